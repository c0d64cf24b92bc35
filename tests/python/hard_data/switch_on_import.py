"""Top-level code that switches to the importing greenlet's parent mid-import
(H4).  BEFORE exists while the import is suspended, AFTER only once it has
been resumed; RECEIVED is the value the parent resumed it with."""
import greenlet

BEFORE = "before"
RECEIVED = greenlet.getcurrent().parent.switch("mid-import")
AFTER = "after"
