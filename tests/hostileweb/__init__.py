"""The hostile web: a server on a raw socket that breaks HTTP and HTML on purpose (bombs, loops, broken framing).

`python -m tests.hostileweb --port 0` prints `READY <base url>`; `/` lists every case, `/_cases.json` says
what each one does and what a correct crawler must report for it (tests/e2e/test_hostile.py,
benchmarks/hostile.py).
"""
