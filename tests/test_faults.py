"""A full disk or a read-only database: the server answers 503 with a clear message, stores
nothing of a refused batch, loses no acknowledged event, and serves writes again by itself once the
fault clears.

The disk fills for the server alone: its process may grow no file past a size limit (RLIMIT_FSIZE,
with SIGXFSZ ignored, so a write past it fails with EFBIG as on a full disk, which SQLite reports as
"database or disk is full"); the test lifts the limit from outside to clear the fault."""

from __future__ import annotations

import resource
import signal
from pathlib import Path

import httpx

from tests.test_serving_e2e import Server, write_config

WRITER = {"Authorization": "Bearer e2e-writer"}
ADMIN = {"Authorization": "Bearer e2e-admin"}
HEADROOM = 256 * 1024  # bytes the database files may still grow when the server starts


def test_a_full_disk_gives_503_loses_nothing_and_heals(
    shop_artifacts: dict[str, Path], tmp_path: Path
) -> None:
    config = write_config(shop_artifacts, tmp_path)
    seeded = Server(config)
    seeded.start()  # the first start seeds the database (catalog, vectors)
    seeded.stop()
    database = tmp_path / "e2e.db"
    limit = max(p.stat().st_size for p in tmp_path.glob("e2e.db*")) + HEADROOM

    def small_disk() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))

    server = Server(config, preexec_fn=small_disk)
    server.start()
    acknowledged: list[float] = []
    refused: list[float] = []
    try:
        with httpx.Client(base_url=server.url, headers=WRITER, timeout=30) as client:
            batch = 0
            while not refused and batch < 2000:  # 256 KiB fills after some hundreds of batches
                values = [float(batch * 50 + i) for i in range(50)]
                events = [
                    {"user_id": f"filler-{batch}", "item_id": "hair-1", "type": "purchase", "value": v}
                    for v in values
                ]
                answer = client.post("/v1/events", json={"events": events})
                batch += 1
                if answer.status_code == 200:
                    acknowledged += values
                    continue
                assert answer.status_code == 503, answer.text
                error = answer.json()["error"]
                assert "database cannot serve" in error["message"]
                assert "nothing was stored" in error["message"]
                assert answer.headers["Retry-After"] == "1"
                refused += values
            assert refused and acknowledged, "the disk never filled: nothing was tested"
            assert client.get("/v1/items/hair-1/similar?k=3").status_code == 200  # reads go on
            assert server.process is not None
            resource.prlimit(  # the shop frees space
                server.process.pid,
                resource.RLIMIT_FSIZE,
                (resource.RLIM_INFINITY, resource.RLIM_INFINITY),
            )
            after = [{"user_id": "after", "item_id": "hair-1", "type": "purchase", "value": -1.0}]
            healed = client.post("/v1/events", json={"events": after})
            assert healed.status_code == 200, healed.text  # no restart needed
    finally:
        server.stop()
    server = Server(config)
    server.start()
    try:
        stored: set[float] = set()
        with httpx.Client(base_url=server.url, headers=ADMIN, timeout=60) as client:
            for user in {f"filler-{n}" for n in range(int(max(acknowledged + refused)) // 50 + 1)}:
                events = client.get(f"/v1/users/{user}/export").json()["events"]
                stored |= {e["value"] for e in events}
            assert [e["value"] for e in client.get("/v1/users/after/export").json()["events"]] == [-1.0]
    finally:
        server.stop()
    assert not [v for v in acknowledged if v not in stored], "acknowledged events were lost"
    assert not [v for v in refused if v in stored], "a refused batch was partly stored"
    assert database.exists()


def test_a_read_only_database_gives_503_loses_nothing_and_heals(
    shop_artifacts: dict[str, Path], tmp_path: Path, postgres_url: str
) -> None:
    """PostgreSQL turns read-only under the server (as a standby does after a failover: the
    database's sessions are cut and new ones may only read), then writable again."""
    import psycopg

    config = write_config(shop_artifacts, tmp_path)
    config.write_text(config.read_text().replace(f'"{tmp_path / "e2e.db"}"', f'"{postgres_url}"'))
    name = postgres_url.rsplit("/", 1)[1]
    admin_url = postgres_url.rsplit("/", 1)[0] + "/postgres"

    def set_read_only(on: bool) -> None:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            change = "SET default_transaction_read_only = on" if on else "RESET default_transaction_read_only"
            admin.execute(f'ALTER DATABASE "{name}" {change}')
            admin.execute(  # the server's open sessions end: its pool opens new ones
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
            )

    def batch(user: str, values: list[float]) -> list[dict[str, object]]:
        return [{"user_id": user, "item_id": "hair-1", "type": "purchase", "value": v} for v in values]

    server = Server(config)
    server.start()
    acknowledged: list[float] = []
    refused: list[float] = []
    messages: list[str] = []
    try:
        with httpx.Client(base_url=server.url, headers=WRITER, timeout=30) as client:
            assert client.post("/v1/events", json={"events": batch("shopper", [0.0, 1.0])}).status_code == 200
            acknowledged += [0.0, 1.0]
            set_read_only(True)
            for n in range(2, 12):
                answer = client.post("/v1/events", json={"events": batch("shopper", [float(n)])})
                assert answer.status_code == 503, answer.text
                assert answer.headers["Retry-After"] == "1"
                messages.append(answer.json()["error"]["message"])
                refused.append(float(n))
            assert any("read-only transaction" in m for m in messages), messages
            assert all("nothing was stored" in m for m in messages)
            assert client.get("/v1/users/shopper/recommendations?k=3").status_code == 200  # reads go on
            set_read_only(False)
            healed: list[int] = []  # no restart needed (each pooled session that was cut refuses one)
            while (not healed or healed[-1] != 200) and len(healed) < 30:
                value = 100.0 + len(healed)
                healed.append(
                    client.post("/v1/events", json={"events": batch("shopper", [value])}).status_code
                )
                if healed[-1] == 200:
                    acknowledged.append(value)
                else:
                    assert healed[-1] == 503, healed
            assert healed[-1] == 200, healed
    finally:
        server.stop()
    with psycopg.connect(postgres_url) as db:
        stored = [row[0] for row in db.execute("SELECT value FROM events ORDER BY id")]
    assert sorted(stored) == sorted(acknowledged), "an acknowledged event was lost or a refused one kept"
