"""mysqlclient (compiled from its sdist against MariaDB Connector/C) against a server:
MYSQL_HOST, MYSQL_PORT, MYSQL_USER, MYSQL_DATABASE."""

import os

import MySQLdb

connection = MySQLdb.connect(
    host=os.environ["MYSQL_HOST"],
    port=int(os.environ["MYSQL_PORT"]),
    user=os.environ["MYSQL_USER"],
    database=os.environ["MYSQL_DATABASE"],
)
cursor = connection.cursor()
cursor.execute("CREATE TABLE IF NOT EXISTS planet (name VARCHAR(20) PRIMARY KEY, moons INT)")
cursor.execute("DELETE FROM planet")
cursor.executemany("INSERT INTO planet VALUES (%s, %s)", [("Earth", 1), ("Mars", 2)])
connection.commit()
cursor.execute("SELECT SUM(moons), VERSION() FROM planet")
moons, server = cursor.fetchone()
print(f"mysqlclient {MySQLdb.version_info[:3]} moons {moons} server {server}")
connection.close()
