"""Every kind of PostgreSQL driver against one server, named by libpq's variables (PGHOST,
PGPORT, PGUSER, PGPASSWORD, PGDATABASE): psycopg2 (its binary wheel, libpq inside),
psycopg 3 (its binary wheel), asyncpg (its own protocol, no libpq) and SQLAlchemy on top
of psycopg 3."""

import asyncio
import os

import asyncpg
import psycopg
import psycopg2
import sqlalchemy

with psycopg2.connect("") as connection, connection.cursor() as cursor:
    cursor.execute("CREATE TABLE IF NOT EXISTS fruit (name text PRIMARY KEY, price int)")
    cursor.execute("TRUNCATE fruit")
    cursor.executemany(
        "INSERT INTO fruit VALUES (%s, %s)", [("apple", 3), ("pear", 4), ("plum", 5)]
    )
    cursor.execute("SELECT sum(price) FROM fruit")
    print(f"psycopg2 {psycopg2.__version__.split()[0]} sum {cursor.fetchone()[0]}")

with psycopg.connect("") as connection:
    row = connection.execute("SELECT count(*), current_setting('server_version') FROM fruit")
    count, server = row.fetchone()
    print(f"psycopg {psycopg.__version__} {psycopg.pq.__impl__} count {count} server {server}")


async def with_asyncpg() -> None:
    connection = await asyncpg.connect()
    try:
        names = [r["name"] for r in await connection.fetch("SELECT name FROM fruit ORDER BY 1")]
        print(f"asyncpg {asyncpg.__version__} names {','.join(names)}")
    finally:
        await connection.close()


asyncio.run(with_asyncpg())

url = sqlalchemy.URL.create(
    "postgresql+psycopg",
    username=os.environ["PGUSER"],
    host=os.environ["PGHOST"],
    port=int(os.environ["PGPORT"]),
    database=os.environ["PGDATABASE"],
)
engine = sqlalchemy.create_engine(url)
fruit = sqlalchemy.Table("fruit", sqlalchemy.MetaData(), autoload_with=engine)
with engine.connect() as connection:
    query = sqlalchemy.select(fruit.c.name).where(fruit.c.price > 3).order_by(fruit.c.name)
    print(f"sqlalchemy {sqlalchemy.__version__} dear {','.join(connection.scalars(query))}")
