"""SQLAlchemy's asyncio extension on our greenlet, in process.

SQLAlchemy runs its synchronous ORM and Core code under asyncio by putting
it in a greenlet (sqlalchemy.util.greenlet_spawn) whose parent is the
greenlet running the event loop; every time the driver has to wait
(aiosqlite here), the sync code calls await_only(), which switches to the
parent with the awaitable and gets its result (or its exception, thrown
into it) back.  These tests run real queries through AsyncEngine,
AsyncConnection and AsyncSession on a SQLite file (ORM and Core, commit
and rollback, errors, many sessions at once, run_sync) and use
greenlet_spawn/await_only directly (nested, exceptions both ways,
contextvars).  Needs SQLAlchemy 1.4 or later with its asyncio extension,
and aiosqlite; skipped otherwise.  Every wait is bounded by asyncio's
wait_for.
"""
import asyncio
import contextvars
import os
import sys
import tempfile
import threading
import unittest

import greenlet

from integ_support import assert_our_greenlet, dist_version, has_module, run_threads

BOUND = 60


def _missing():
    for name in ("sqlalchemy", "aiosqlite"):
        if not has_module(name):
            return "%s is not importable by %s (pip install 'sqlalchemy[asyncio]' aiosqlite)" % (
                name, sys.executable)
    version = dist_version("SQLAlchemy") or "0"
    try:
        major_minor = tuple(int(p) for p in version.split(".")[:2])
    except ValueError:
        major_minor = (0, 0)
    if major_minor < (1, 4):
        return "SQLAlchemy %s has no asyncio extension (1.4 or later is needed)" % version
    return None


SKIP = _missing()

if not SKIP:
    import sqlalchemy as sa
    import sqlalchemy.exc
    import sqlalchemy.orm
    import sqlalchemy.pool
    import sqlalchemy.util
    from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

    greenlet_spawn = sqlalchemy.util.greenlet_spawn
    await_only = sqlalchemy.util.await_only

    Base = sqlalchemy.orm.declarative_base()

    class Author(Base):
        __tablename__ = "author"
        id = sa.Column(sa.Integer, primary_key=True)
        name = sa.Column(sa.String(50), unique=True, nullable=False)
        books = sqlalchemy.orm.relationship("Book", back_populates="author",
                                            order_by="Book.id")

    class Book(Base):
        __tablename__ = "book"
        id = sa.Column(sa.Integer, primary_key=True)
        title = sa.Column(sa.String(100), nullable=False)
        author_id = sa.Column(sa.Integer, sa.ForeignKey("author.id"), nullable=False)
        author = sqlalchemy.orm.relationship("Author", back_populates="books")

    counter = sa.Table(
        "counter", Base.metadata,
        sa.Column("worker", sa.Integer, primary_key=True),
        sa.Column("value", sa.Integer, nullable=False))

    def session_maker(engine):
        return sqlalchemy.orm.sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


class Boom(Exception):
    """Raised on purpose by the tests."""


def bounded(coro):
    return asyncio.wait_for(coro, BOUND)


def in_spawned_greenlet(test):
    """Checks, inside sync code run by greenlet_spawn, that it runs in a
    greenlet of our module other than the event loop's, child of it."""
    current = greenlet.getcurrent()
    test.assertIsInstance(current, greenlet.greenlet)
    test.assertIsNotNone(current.parent)
    # SQLAlchemy's own greenlet subclass (1.4 to 2.1 name it so).
    test.assertEqual(type(current).__name__, "_AsyncIoGreenlet")
    return current


@unittest.skipIf(SKIP, SKIP)
class SQLAlchemyTest(unittest.TestCase):
    def setUp(self):
        assert_our_greenlet(self)
        self.tmp = tempfile.TemporaryDirectory(prefix="cg-integ-sqla-")
        self.addCleanup(self.tmp.cleanup)
        self.url = "sqlite+aiosqlite:///" + os.path.join(self.tmp.name, "test.db")

    def run_async(self, coro):
        return asyncio.run(bounded(coro))

    async def make_engine(self, **kw):
        engine = create_async_engine(self.url, **kw)
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
        return engine


class TestAsyncORMAndCore(SQLAlchemyTest):
    def test_orm_session_add_query_relationship_and_commit(self):
        async def main():
            engine = await self.make_engine()
            try:
                Session = session_maker(engine)
                async with Session() as session:
                    async with session.begin():
                        for a in range(3):
                            author = Author(name="author%d" % a)
                            author.books = [Book(title="book %d.%d" % (a, b)) for b in range(a + 2)]
                            session.add(author)
                async with Session() as session:
                    rows = (await session.execute(
                        sa.select(Author).options(sqlalchemy.orm.selectinload(Author.books))
                        .order_by(Author.name))).scalars().all()
                    shape = [(a.name, [b.title for b in a.books]) for a in rows]
                    count = (await session.execute(sa.select(sa.func.count(Book.id)))).scalar_one()
                    book = await session.get(Book, 1)
                    # A lazy load, run in a greenlet by run_sync.
                    owner = await session.run_sync(lambda _sync_session: book.author.name)
                return shape, count, owner
            finally:
                await engine.dispose()

        shape, count, owner = self.run_async(main())
        self.assertEqual(shape, [("author%d" % a, ["book %d.%d" % (a, b) for b in range(a + 2)])
                                 for a in range(3)])
        self.assertEqual(count, 2 + 3 + 4)
        self.assertEqual(owner, "author0")

    def test_core_connection_insert_select_and_rollback(self):
        async def main():
            engine = await self.make_engine()
            try:
                async with engine.connect() as conn:
                    await conn.execute(counter.insert(), [{"worker": i, "value": i * i}
                                                          for i in range(10)])
                    await conn.commit()
                    # A transaction rolled back: its changes are gone.
                    trans = await conn.begin()
                    await conn.execute(counter.delete().where(counter.c.worker < 5))
                    await conn.execute(counter.update().values(value=-1))
                    inside = (await conn.execute(sa.select(sa.func.count()).select_from(counter))).scalar()
                    await trans.rollback()
                    rows = (await conn.execute(
                        sa.text("SELECT worker, value FROM counter ORDER BY worker"))).all()
                    streamed = []
                    result = await conn.stream(sa.select(counter.c.value).order_by(counter.c.worker))
                    async for row in result:
                        streamed.append(row.value)
                return inside, [tuple(r) for r in rows], streamed
            finally:
                await engine.dispose()

        inside, rows, streamed = self.run_async(main())
        self.assertEqual(inside, 5)
        self.assertEqual(rows, [(i, i * i) for i in range(10)])
        self.assertEqual(streamed, [i * i for i in range(10)])

    def test_database_error_propagates_and_session_recovers(self):
        async def main():
            engine = await self.make_engine()
            try:
                Session = session_maker(engine)
                async with Session() as session:
                    session.add(Author(name="taken"))
                    await session.commit()
                    session.add(Author(name="taken"))
                    try:
                        await session.commit()
                    except sqlalchemy.exc.IntegrityError as e:
                        caught = e
                    else:
                        caught = None
                    await session.rollback()
                    session.add(Author(name="free"))
                    await session.commit()
                    names = (await session.execute(
                        sa.select(Author.name).order_by(Author.name))).scalars().all()
                return caught, names
            finally:
                await engine.dispose()

        caught, names = self.run_async(main())
        self.assertIsInstance(caught, sqlalchemy.exc.IntegrityError)
        self.assertIn("UNIQUE", str(caught).upper())
        self.assertEqual(names, ["free", "taken"])

    def test_exception_in_begin_block_rolls_back(self):
        async def main():
            engine = await self.make_engine()
            try:
                Session = session_maker(engine)
                with self.assertRaises(Boom):
                    async with Session() as session:
                        async with session.begin():
                            session.add(Author(name="never"))
                            await session.flush()
                            raise Boom("in the transaction")
                async with engine.connect() as conn:
                    return (await conn.execute(sa.select(sa.func.count(Author.id)))).scalar()
            finally:
                await engine.dispose()

        self.assertEqual(self.run_async(main()), 0)

    def test_many_concurrent_sessions_with_gather(self):
        n = 40

        async def main():
            # One connection per session, all checked out at once.
            engine = await self.make_engine(poolclass=sqlalchemy.pool.AsyncAdaptedQueuePool,
                                            pool_size=n, max_overflow=0, pool_timeout=BOUND)
            try:
                Session = session_maker(engine)
                state = {"in": 0, "peak": 0}
                all_in = asyncio.Event()

                async def worker(i):
                    async with Session() as session:
                        seen = (await session.execute(sa.select(sa.literal(i)))).scalar_one()
                        state["in"] += 1
                        state["peak"] = max(state["peak"], state["in"])
                        if state["in"] == n:
                            all_in.set()
                        await bounded(all_in.wait())
                        await session.execute(counter.insert().values(worker=i, value=seen * 10))
                        await session.commit()
                        state["in"] -= 1
                        return seen

                results = await asyncio.gather(*[worker(i) for i in range(n)])
                async with engine.connect() as conn:
                    rows = (await conn.execute(
                        sa.select(counter.c.worker, counter.c.value).order_by(counter.c.worker))).all()
                return results, [tuple(r) for r in rows], state
            finally:
                await engine.dispose()

        results, rows, state = self.run_async(main())
        self.assertEqual(results, list(range(n)))
        self.assertEqual(rows, [(i, i * 10) for i in range(n)])
        self.assertEqual(state["peak"], n)
        self.assertEqual(state["in"], 0)

    def test_run_sync_function_does_awaited_db_work(self):
        test = self

        def sync_work(conn, base):
            # Plain sync Core code: every execute below waits for aiosqlite
            # by switching out of this greenlet and back.
            in_spawned_greenlet(test)
            for i in range(5):
                conn.execute(counter.insert().values(worker=base + i, value=i))
            total = conn.execute(sa.select(sa.func.sum(counter.c.value))).scalar()
            # An explicit await from the same sync function.
            doubled = await_only(asyncio.sleep(0, result=total * 2))
            return total, doubled

        def sync_session_work(session):
            in_spawned_greenlet(test)
            session.add(Author(name="sync", books=[Book(title="t1"), Book(title="t2")]))
            session.flush()
            author = session.execute(sa.select(Author).where(Author.name == "sync")).scalar_one()
            return [b.title for b in author.books]  # a lazy load, in the greenlet

        async def main():
            engine = await self.make_engine()
            try:
                async with engine.begin() as conn:
                    core = await conn.run_sync(sync_work, 100)
                Session = session_maker(engine)
                async with Session() as session:
                    titles = await session.run_sync(sync_session_work)
                    await session.commit()
                return core, titles
            finally:
                await engine.dispose()

        core, titles = self.run_async(main())
        self.assertEqual(core, (10, 20))
        self.assertEqual(titles, ["t1", "t2"])

    def test_event_loops_in_two_threads(self):
        # Each thread has its own event loop and greenlets; both work at once.
        results, errors = {}, []

        def thread_main(k):
            async def main():
                url = "sqlite+aiosqlite:///" + os.path.join(self.tmp.name, "t%d.db" % k)
                engine = create_async_engine(url)
                try:
                    async with engine.begin() as conn:
                        await conn.run_sync(Base.metadata.create_all)
                        for i in range(50):
                            await conn.execute(counter.insert().values(worker=i, value=k))
                            await asyncio.sleep(0)
                    async with engine.connect() as conn:
                        return (await conn.execute(sa.select(sa.func.sum(counter.c.value)))).scalar()
                finally:
                    await engine.dispose()
            try:
                results[k] = asyncio.run(bounded(main()))
            except BaseException as e:  # reported below
                errors.append(repr(e))

        run_threads(self, [threading.Thread(target=thread_main, args=(k,)) for k in (1, 2)],
                    2 * BOUND)
        self.assertEqual(errors, [])
        self.assertEqual(results, {1: 50, 2: 100})


@unittest.skipIf(SKIP, SKIP)
class TestGreenletSpawnAwaitOnly(unittest.TestCase):
    def setUp(self):
        assert_our_greenlet(self)

    def run_async(self, coro):
        return asyncio.run(bounded(coro))

    def spawn_raising(self, fn, exc_type):
        """The exception of type exc_type that `await greenlet_spawn(fn)`
        raised in the coroutine (None if it raised nothing)."""
        async def main():
            try:
                await greenlet_spawn(fn)
            except exc_type as e:
                return e
            return None
        return self.run_async(main())

    def test_result_and_awaits(self):
        def sync(a, b, scale=1):
            current = in_spawned_greenlet(self)
            x = await_only(asyncio.sleep(0.001, result=a))
            y = await_only(asyncio.sleep(0, result=b))
            self.assertIs(greenlet.getcurrent(), current)
            return (x + y) * scale

        self.assertEqual(self.run_async(greenlet_spawn(sync, 2, 3, scale=10)), 50)

    def test_nested_greenlet_spawn(self):
        depth = 5
        seen = []

        def level(k):
            me = in_spawned_greenlet(self)
            seen.append(me)
            got = await_only(asyncio.sleep(0, result=k))
            if k == depth:
                return [got]
            # The inner greenlet_spawn coroutine runs in the event loop's
            # greenlet, so the inner greenlet is a sibling, not a child.
            inner = await_only(greenlet_spawn(level, k + 1))
            self.assertIs(greenlet.getcurrent(), me)
            return [got] + inner

        self.assertEqual(self.run_async(greenlet_spawn(level, 1)), [1, 2, 3, 4, 5])
        self.assertEqual(len(set(map(id, seen))), depth)
        self.assertEqual(len({id(g.parent) for g in seen}), 1)
        self.assertTrue(all(g.dead for g in seen))

    def test_exception_from_sync_code_reaches_the_awaiting_coroutine(self):
        def sync():
            await_only(asyncio.sleep(0))
            raise Boom("from the greenlet")

        e = self.spawn_raising(sync, Boom)
        self.assertIsInstance(e, Boom)
        self.assertEqual(str(e), "from the greenlet")
        # Its traceback goes through the sync function's frame.
        names = []
        tb = e.__traceback__
        for _ in range(100):
            if tb is None:
                break
            names.append(tb.tb_frame.f_code.co_name)
            tb = tb.tb_next
        self.assertIn("sync", names)

    def test_exception_from_awaitable_is_thrown_into_sync_code(self):
        async def failing(msg):
            await asyncio.sleep(0)
            raise Boom(msg)

        def sync():
            try:
                await_only(failing("caught"))
            except Boom as e:
                first = str(e)
            # After catching it the greenlet goes on, and a second one
            # is left to propagate out of greenlet_spawn.
            after = await_only(asyncio.sleep(0, result="after"))
            try:
                await_only(failing("uncaught"))
            finally:
                cleanup.append((first, after))

        cleanup = []

        async def main():
            with self.assertRaises(Boom) as cm:
                await greenlet_spawn(sync)
            return str(cm.exception)

        self.assertEqual(self.run_async(main()), "uncaught")
        self.assertEqual(cleanup, [("caught", "after")])

    def test_nested_exception_crosses_two_greenlets(self):
        def inner():
            await_only(asyncio.sleep(0))
            raise Boom("inner")

        def outer():
            try:
                await_only(greenlet_spawn(inner))
            except Boom as e:
                raise KeyError("outer") from e

        e = self.spawn_raising(outer, KeyError)
        self.assertIsInstance(e, KeyError)
        self.assertIsInstance(e.__cause__, Boom)

    def test_cancellation_reaches_sync_code(self):
        state = {}

        def sync(started):
            started.set()
            try:
                await_only(asyncio.sleep(BOUND))
            except asyncio.CancelledError:
                state["cancelled_in_greenlet"] = True
                raise

        async def main():
            started = asyncio.Event()
            task = asyncio.ensure_future(greenlet_spawn(sync, started))
            await bounded(started.wait())
            await asyncio.sleep(0.01)
            task.cancel()
            try:
                await bounded(task)
            except asyncio.CancelledError:
                return "cancelled"
            return "not cancelled"

        self.assertEqual(self.run_async(main()), "cancelled")
        self.assertTrue(state.get("cancelled_in_greenlet"))

    def test_await_only_outside_greenlet_spawn_raises_missing_greenlet(self):
        async def coro():
            return 1

        async def main():
            c = coro()
            try:
                with self.assertRaises(sqlalchemy.exc.MissingGreenlet):
                    await_only(c)
            finally:
                c.close()  # SQLAlchemy 2 closes it already, 1.4 does not
            return await greenlet_spawn(await_only, coro())

        self.assertEqual(self.run_async(main()), 1)

    def test_context_variables_follow_the_task(self):
        var = contextvars.ContextVar("cg_integ_var", default="unset")

        def sync(expected):
            self.assertEqual(var.get(), expected)
            await_only(asyncio.sleep(0))
            self.assertEqual(var.get(), expected)
            var.set(expected + "-changed-in-greenlet")
            return var.get()

        async def task(name):
            var.set(name)
            inside = await greenlet_spawn(sync, name)
            return inside, var.get()

        async def main():
            return await asyncio.gather(*[task("t%d" % i) for i in range(10)])

        results = self.run_async(main())
        for i, (inside, after) in enumerate(results):
            name = "t%d" % i
            self.assertEqual(inside, name + "-changed-in-greenlet")
            # The greenlet ran in the task's own context (SQLAlchemy gives
            # it the driver's gr_context), so the task sees the change.
            self.assertEqual(after, name + "-changed-in-greenlet")


if __name__ == "__main__":
    unittest.main()
