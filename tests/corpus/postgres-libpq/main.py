"""PostgreSQL through the system's libpq: psycopg2 compiled from its sdist (linked to
libpq.so.5) and psycopg 3's pure-Python implementation (libpq found by ctypes)."""

import psycopg
import psycopg2
import psycopg2.extensions

with psycopg2.connect("") as connection, connection.cursor() as cursor:
    cursor.execute("SELECT 6 * 7, current_setting('server_version')")
    answer, server = cursor.fetchone()
    version = psycopg2.__version__.split()[0]
    libpq = psycopg2.extensions.libpq_version()
    print(f"psycopg2 {version} libpq {libpq} answer {answer} server {server}")

with psycopg.connect("") as connection:
    answer = connection.execute("SELECT %s::int + 1", (41,)).fetchone()[0]
    implementation, libpq = psycopg.pq.__impl__, psycopg.pq.version()
    print(f"psycopg {psycopg.__version__} {implementation} libpq {libpq} answer {answer}")
