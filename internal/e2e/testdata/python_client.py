"""python3-influxdb (Debian's InfluxDBClient) against influxgate.

Run by TestClientPython (clients_python_test.go) as
    /usr/bin/python3 python_client.py HOST PORT DATABASE
It creates the database and a retention policy, writes points with the
JSON body and as line protocol, reads them back through influxgate and
checks what it reads. It exits non-zero, saying why, when anything differs;
the Go test then compares the two replicas point for point.
"""

import sys

from influxdb import InfluxDBClient
from influxdb.exceptions import InfluxDBClientError

BATCH = 250


def check(what, got, want):
    if got != want:
        sys.exit("%s: got %r, want %r" % (what, got, want))


def main():
    host, port, db = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    client = InfluxDBClient(host=host, port=port, database=db, timeout=30)

    version = client.ping()
    if not version:
        sys.exit("ping: no X-Influxdb-Version")

    # Schema changes: influxgate applies them to every backend.
    client.create_database(db)
    client.create_retention_policy("forever", "INF", 1, database=db)
    client.create_retention_policy("week", "7d", 1, database=db)
    names = [d["name"] for d in client.get_list_database()]
    if db not in names:
        sys.exit("get_list_database: %s missing from %r" % (db, names))

    # consistency=all: influxgate answers once both backends have the
    # points, so the reads below see every one of them.
    client.write_points([
        {"measurement": "py", "tags": {"host": "a", "dc": "eu west"},
         "time": 1700000000123456789,
         "fields": {"f": 1.5, "i": 7, "s": 'he said "hi" \\o/', "b": True}},
        {"measurement": "py", "tags": {"host": "b"},
         "time": "2023-11-14T22:13:21.5Z",
         "fields": {"f": -2.25}},
    ], consistency="all")
    client.write_points(
        [{"measurement": "pybatch", "tags": {"n": "%03d" % i},
          "time": 1700000100 + i, "fields": {"v": i}}
         for i in range(BATCH)],
        time_precision="s", batch_size=100, tags={"source": "python"},
        consistency="all")
    client.write_points(
        ["pyline,host=l v=1i 1700000002", "pyline,host=m v=2i 1700000003"],
        protocol="line", time_precision="s", consistency="all")
    client.write_points(
        [{"measurement": "pyrp", "time": 1700000004000, "fields": {"v": 4.5}}],
        time_precision="ms", retention_policy="forever", consistency="all")
    # A point older than its retention policy: InfluxDB's 400 reaches the
    # client as it would from influxd itself.
    try:
        client.write_points(
            [{"measurement": "pyold", "time": 1700000005, "fields": {"v": 1}}],
            time_precision="s", retention_policy="week", consistency="all")
        sys.exit("write beyond retention: no error")
    except InfluxDBClientError as e:
        check("write beyond retention", (e.code, "points beyond retention policy" in e.content),
              (400, True))

    rows = list(client.query('SELECT * FROM "py"', epoch="ns").get_points())
    check("SELECT * FROM py", [(r["time"], r["host"], r["f"]) for r in rows],
          [(1700000000123456789, "a", 1.5), (1700000001500000000, "b", -2.25)])
    check("string field", rows[0]["s"], 'he said "hi" \\o/')
    rows = list(client.query('SELECT count("v") FROM "pybatch"').get_points())
    check("count of pybatch", rows[0]["count"], BATCH)
    rows = list(client.query('SELECT "v" FROM "pyline"', epoch="s").get_points())
    check("SELECT v FROM pyline", [(r["time"], r["v"]) for r in rows],
          [(1700000002, 1), (1700000003, 2)])
    rows = list(client.query('SELECT "v" FROM "forever"."pyrp"', epoch="ms").get_points())
    check("SELECT v FROM forever.pyrp", [(r["time"], r["v"]) for r in rows],
          [(1700000004000, 4.5)])
    print("python3-influxdb: all checks passed (server version %s)" % version)


if __name__ == "__main__":
    main()
