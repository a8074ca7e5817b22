"""The page classifier on pages it was not tuned on, beside a keyword detector and a probe-only detector.

1. Held-out hosts (tests/soft404real.py): real news pages of hosts the rules and the model never saw, their
   dead variants made with error wording of platforms they never saw (the lexicon and the model are built
   from the development split only), their hard live variants, and each host's answer for a URL that
   cannot exist (its probe). Precision, recall and F1 for dead pages, for four detectors on the same pages:
   - keyword: error wording anywhere on the page (what the field uses without a classifier);
   - probe-only (Bar-Yossef et al.): the page has the probe's title and a simhash within 6 bits of it;
   - ours, page alone: as when the host was not probed (probes off, or the host answers 404 to probes);
   - ours, with the probe: as a crawl judges an article page (the page alone first; a page with no story
     of its own is compared with its host's probe answer).
   A page both of ours call a shell (`needs-render`) is rendered in Chromium, offline, and its DOM judged,
   as a crawl does with `render = "auto"` (the default); without a Chromium it stays without a verdict,
   which the row "without a browser" shows.
   The development hosts' figures are printed beside them, marked as what the model was fitted on, and the
   held-out pages judged with the whole lexicon the crawler ships (their platforms' wording known then: how
   the crawler does on those platforms, not a held-out measure).
2. Real live pages: the 181 pages of ../shared/data/article-extraction-benchmark and the HTML pages in the
   WARCs of ../shared/data/warc-interop, as they are: how many are called dead (target 0), how many get
   `needs-render` (no verdict: a browser would be started for them; target under 0.5 %), and in how many
   the page reader finds a story of its own, beside trafilatura's main-content extraction.
3. Our own labelled pages (tests/soft404corpus.py, the seed page, the sample web): written beside the rules,
   so a check that nothing regressed, not a measure of accuracy.
4. Milliseconds per page that the classifier adds (reading the page into evidence, then the verdict), on
   the real live pages, measured first; the HTML parse is shared with the rest of the page analysis and
   reported apart.

    python benchmarks/soft404.py
"""

from __future__ import annotations

import gzip
import json
import statistics
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import trafilatura  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402
from scrapy.http import HtmlResponse  # noqa: E402
from scrapy.settings.default_settings import METAREFRESH_MAXDELAY  # noqa: E402
from w3lib.html import get_meta_refresh  # noqa: E402
from warcio.archiveiterator import ArchiveIterator  # noqa: E402

from crawler.analysis import page_text  # noqa: E402
from crawler.browser import BrowserNotFoundError, find_browser, launch_options  # noqa: E402
from crawler.config import RenderConfig  # noqa: E402
from crawler.extract import parse_html  # noqa: E402
from crawler.soft404.blocks import units_of  # noqa: E402
from crawler.soft404.classify import (  # noqa: E402
    built_nothing,
    judge,
    probed,
    redirect_verdict,
    template_view,
)
from crawler.soft404.cues import NOT_FOUND  # noqa: E402
from crawler.soft404.features import (  # noqa: E402
    STORY_UNITS,
    Evidence,
    evidence_of,
    story_units,
)
from crawler.soft404.lexicon import LEXICON_PARTS, use_lexicon  # noqa: E402
from crawler.soft404.page import read_page  # noqa: E402
from crawler.soft404.probes import Fingerprint, matches  # noqa: E402
from crawler.soft404.status import Verdict, from_status  # noqa: E402
from crawler.textutil import simhash  # noqa: E402
from tests import seedpage  # noqa: E402
from tests.fixtureweb.server import Web  # noqa: E402
from tests.soft404corpus import corpus  # noqa: E402
from tests.soft404real import RealCase, cases  # noqa: E402

DEAD = {"not-found", "soft-404"}
LEXICON_PARTS_SHIPPED = tuple(LEXICON_PARTS)
SHARED = ROOT.parent / "shared" / "data"


@dataclass
class Read:
    """One page as every detector needs it."""

    evidence: Evidence
    title: str
    simhash: str | None
    text: str
    html: str
    url: str = ""


def read(html: str | bytes, url: str = "") -> Read:
    if isinstance(html, bytes):  # decoded as the crawler does: Scrapy's encoding (headers, meta, BOM, sniffing)
        html = HtmlResponse(url or "https://example.test/", body=html).text
    tree = parse_html(html)
    if tree is None:
        nothing = Evidence((), "", "", (None, None, None), False, False, False, frozenset(), False)
        return Read(nothing, "", None, "", html, url)
    evidence = evidence_of(read_page(tree), url)
    text = page_text(tree)  # for the other detectors
    return Read(evidence, evidence.title, simhash(text), text, html, url)


def label(verdict: Verdict) -> str:
    return verdict.verdict or ("needs-render" if "needs-render" in verdict.reasons else "none")


def scores(pairs: list[tuple[str, str]]) -> tuple[float, float, float, int, int]:
    """Precision, recall, F1 of `dead` calls, and the false alarms and misses."""
    tp = sum(1 for want, got in pairs if want in DEAD and got in DEAD)
    fp = sum(1 for want, got in pairs if want not in DEAD and got in DEAD)
    fn = sum(1 for want, got in pairs if want in DEAD and got not in DEAD)
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1, fp, fn


# -- 1. held-out hosts ------------------------------------------------------------------------------------

Detector = Callable[[Read, Read], str]


def keyword(page: Read, probe: Read) -> str:
    return "soft-404" if NOT_FOUND.search(page.text) else "ok"


def probe_only(page: Read, probe: Read) -> str:
    fingerprint = Fingerprint(200, None, False, probe.title, probe.simhash, 0.0)
    return "soft-404" if matches({"title": page.title, "simhash": page.simhash}, fingerprint) else "ok"


def page_alone(page: Read, probe: Read) -> str:
    alone = judge(page.evidence)
    return rendered(page) if "needs-render" in alone.reasons else label(alone)


def with_probe(page: Read, probe: Read) -> str:
    alone = judge(page.evidence)
    if "needs-render" in alone.reasons:
        return rendered(page)
    if not probed(alone):
        return label(alone)
    view = template_view(probe.evidence)
    return label(judge(page.evidence, view) if view is not None else alone)


RENDERED: dict[str, str] = {}  # a shell's HTML -> its verdict once Chromium has run it


def rendered(page: Read) -> str:
    """What a crawl makes of a shell (`render = "auto"`, the default): Chromium runs it, and the rendered DOM
    is judged on its own (crawler/soft404/judge.py); a DOM the browser built nothing into is dead. Without
    a Chromium the shell stays `needs-render`, no verdict."""
    return RENDERED.get(page.html, "needs-render")


def render_shells(pages: list[Read]) -> str:
    """Render every page the classifier calls a shell in Chromium, offline (every request it makes is
    aborted, as the corpus's subresources are not there), and keep its verdict for `rendered`."""
    shells = list({p.html: p for p in pages if "needs-render" in judge(p.evidence).reasons}.values())
    if not shells:
        return "no shells to render"
    config = RenderConfig.model_validate({
        "RENDER_ENABLED": True, "RENDER_BROWSER_PATH": "", "RENDER_MAX_PAGES": 4, "RENDER_CONTEXT_PAGES": 50,
        "RENDER_TIMEOUT": 30, "RENDER_SUBRESOURCE_MAX_BYTES": 1024, "RENDER_SCREENSHOT": False})
    try:
        options = launch_options(find_browser(config), {})
    except BrowserNotFoundError as exc:
        return f"{len(shells)} shells left as needs-render (no Chromium: {exc})"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(**options)
        context = browser.new_context(java_script_enabled=True)
        context.route("**/*", lambda route: route.abort())
        for shell in shells:
            tab = context.new_page()
            try:
                tab.set_content(shell.html, wait_until="load", timeout=15_000)
                tab.wait_for_timeout(200)
                dom = tab.content()
            except Exception:  # a page the browser cannot load stays a shell
                dom = shell.html
            finally:
                tab.close()
            evidence = read(dom, shell.url).evidence
            verdict = judge(evidence)
            RENDERED[shell.html] = label(built_nothing(evidence) if "needs-render" in verdict.reasons else verdict)
        browser.close()
    return f"{len(shells)} shells rendered in Chromium, judged on their DOM: " + ", ".join(
        f"{v} {n}" for v, n in Counter(RENDERED.values()).most_common())


def no_browser(page: Read, probe: Read) -> str:
    """With the probe, as a crawl without a Chromium judges: its shells keep no verdict."""
    return "needs-render" if "needs-render" in judge(page.evidence).reasons else with_probe(page, probe)


DETECTORS_OURS: dict[str, Detector] = {"ours, page alone": page_alone, "ours, with probe": with_probe,
                                       "  without a browser": no_browser}
DETECTORS: dict[str, Detector] = {"keyword": keyword, "probe-only": probe_only, **DETECTORS_OURS}


def expected(case: RealCase) -> str:
    return {"dead": "soft-404", "live": "ok", "blocked": "blocked"}[case.label]


def real_corpus() -> None:
    print("== 1. real pages of held-out hosts, dead pages in wording of held-out platforms (tests/soft404real.py)")
    all_cases = cases()
    # The held-out platforms' wording is neither read nor judged with (the crawler reads it): pages are read
    # into evidence and judged (which matches a page's messages beyond its host's template) with "dev" only.
    use_lexicon("dev")
    try:
        _score_corpus(all_cases, ("heldout", "dev"))
    finally:
        use_lexicon(*LEXICON_PARTS_SHIPPED)
    # What the crawler, which reads the whole lexicon, makes of the same held-out pages: their platforms'
    # wording is known then, so this is not a held-out measure, but how it does on those platforms.
    _score_corpus([c for c in all_cases if c.split == "heldout"], ("shipped",), DETECTORS_OURS)


SPLIT_NOTES = {
    "heldout": "held out: never seen by rules, lexicon or model",
    "dev": "development: the model was fitted on these (not a measure of accuracy)",
    "shipped": "the held-out pages judged with the lexicon the crawler ships, which knows their platforms' "
               "wording: not a held-out measure",
}


def _score_corpus(all_cases: list[RealCase], splits: tuple[str, ...],
                  detectors: dict[str, Detector] | None = None) -> None:
    probes: dict[str, Read] = {}
    for case in all_cases:  # one host's answer, read once
        if case.probe_url not in probes:
            probes[case.probe_url] = read(case.probe_html, case.probe_url)
    pages = [(case, read(case.html, url=case.url), probes[case.probe_url]) for case in all_cases]
    RENDERED.clear()
    print("shells (needs-render), as a crawl renders them: " + render_shells([p for _, p, _ in pages]))
    for split in splits:
        chosen = [(c, p, q) for c, p, q in pages if split in (c.split, "shipped")]
        hosts = len({c.host for c, _, _ in chosen})
        dead = sum(c.label == "dead" for c, _, _ in chosen)
        print(f"\n-- {split} ({SPLIT_NOTES[split]}): {len(chosen)} pages of {hosts} hosts, {dead} dead")
        print(f"{'detector':<20}{'precision':>10}{'recall':>9}{'F1':>8}{'false alarms':>14}{'missed':>8}")
        results = {}
        for name, detector in (detectors or DETECTORS).items():
            # A section front stands for a section page, which a crawl judges alone (it probes articles).
            got = [detector(p, q) if c.style != "front" or name == "probe-only" else page_alone(p, q)
                   for c, p, q in chosen]
            results[name] = got
            p_, r_, f1, fp, fn = scores([(expected(c), g) for (c, _, _), g in zip(chosen, got, strict=True)])
            print(f"{name:<20}{p_:>10.4f}{r_:>9.4f}{f1:>8.4f}{fp:>14}{fn:>8}")
        if split == "heldout":
            _by(chosen, results["ours, with probe"], "style")
            _by(chosen, results["ours, with probe"], "lang")
            _by(chosen, results["ours, page alone"], "style", "page alone")


def _by(chosen: list[tuple[RealCase, Read, Read]], got: list[str], key: str, what: str = "with probe") -> None:
    right: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for (case, _, _), verdict in zip(chosen, got, strict=True):
        group = f"{case.label}:{case.style}" if key == "style" else getattr(case, key)
        right[group][0] += int((expected(case) in DEAD) == (verdict in DEAD))
        right[group][1] += 1
    print(f"right per {key} ({what}): " + ", ".join(f"{k} {r}/{n}" for k, (r, n) in sorted(right.items())))


# -- 2. real live pages -----------------------------------------------------------------------------------

def real_live_pages() -> Iterator[tuple[str, str, bytes]]:
    """(name, URL, body) of every real live page we have."""
    truth = json.loads((SHARED / "article-extraction-benchmark" / "ground-truth.json").read_text(encoding="utf-8"))
    for path in sorted((SHARED / "article-extraction-benchmark" / "html").glob("*.html.gz")):
        url = truth[path.name.removesuffix(".html.gz")]["url"]
        yield f"article-extraction-benchmark/{path.name}", url, gzip.decompress(path.read_bytes())
    seen = set()
    for path in sorted((SHARED / "warc-interop").rglob("*")):
        for url, body in _warc_pages(path):
            if (url, len(body)) not in seen:
                seen.add((url, len(body)))
                yield f"warc-interop {path.name} {url}", url, body


def _warc_pages(path: Path) -> Iterator[tuple[str, bytes]]:
    """HTML pages answered 200 in a WARC or ARC (its broken records, there on purpose, skipped)."""
    if not path.is_file():
        return
    try:
        with path.open("rb") as stream:
            for record in ArchiveIterator(stream, arc2warc=True):
                headers = record.http_headers
                if record.rec_type != "response" or headers is None or headers.get_statuscode() != "200":
                    continue
                if "html" in (headers.get_header("Content-Type") or ""):
                    body = record.content_stream().read()
                    if body:
                        yield record.rec_headers.get_header("WARC-Target-URI"), body
    except Exception:
        return


def live_pages() -> None:
    print("\n== 2. real live pages, as they are (every one must be live)")
    verdicts = []
    stories = trafilatura_found = 0
    hops = set()
    for name, url, body in real_live_pages():
        page = read(body, url=url)
        verdict = judge(page.evidence)
        if _meta_refresh(page.html, url):
            hops.add(name)
        verdicts.append((name, verdict))
        stories += story_units(page.evidence) >= STORY_UNITS
        main = trafilatura.extract(page.html, url=url or None, favor_recall=True) or ""
        trafilatura_found += units_of(main) >= STORY_UNITS
    print(f"a story of their own found (a run of {STORY_UNITS}+ words): {stories} of {len(verdicts)}; "
          f"trafilatura's main text of {STORY_UNITS}+ words: {trafilatura_found} of {len(verdicts)}")
    dead = [(n, v) for n, v in verdicts if v.verdict in DEAD]
    shells = [(n, v) for n, v in verdicts if "needs-render" in v.reasons]
    print(f"{len(verdicts)} pages: called dead {len(dead)}, needs-render {len(shells)} "
          f"({100 * len(shells) / len(verdicts):.2f} %)")
    # A crawl follows a meta refresh (crawler/redirects.py, before the verdict): such a page is a redirect
    # hop there, never judged; the rate a crawl meets leaves them out (they are printed either way).
    judged = [(n, v) for n, v in verdicts if n not in hops]
    judged_shells = [(n, v) for n, v in judged if "needs-render" in v.reasons]
    print(f"as a crawl judges them ({len(hops)} meta-refresh pages are redirect hops there): needs-render "
          f"{len(judged_shells)} of {len(judged)} ({100 * len(judged_shells) / len(judged):.2f} %)")
    print("reasons: " + ", ".join(f"{r} {n}" for r, n in Counter(v.reasons[0] for _, v in verdicts).most_common()))
    for name, verdict in dead + shells:
        print(f"  {verdict.verdict or 'none'} {verdict.reasons}: {name}")


def _meta_refresh(html: str, url: str) -> bool:
    """The page refreshes to another URL soon enough that Scrapy's MetaRefreshMiddleware follows it."""
    delay, target = get_meta_refresh(html, url or "https://example.test/")
    return target is not None and delay is not None and delay < METAREFRESH_MAXDELAY


# -- 3. our own labelled pages ----------------------------------------------------------------------------

def own_pages() -> list[tuple[str, str, str, bytes, str, str]]:
    """(source, style, expected, body, requested, final) of our labelled pages."""
    pages = [("corpus", p.style, p.expect, p.html.encode(), f"https://n.test/{p.name}", f"https://n.test/{p.name}")
             for p in corpus()]
    for style, want in (("visible", "ok"), ("hidden", "ok"), ("error-only", "soft-404")):
        pages.append(("seed", f"seed-{style}", want, seedpage.build(style).encode(), seedpage.URL, seedpage.URL))
    web = Web()
    for number in (1, 2):
        web.number = number
        state = web.state
        found = [(a.path, f"article-{a.template}", "ok") for a in state.articles.values()]
        found += [(d.path, d.how.split(":")[0], d.expect if d.expect != "moved" else "ok") for d in state.dead.values()]
        for path, style, want in found:
            final, reply = path, web.answer("GET", path, "http://web.test")
            for _ in range(5):  # follow redirects as the crawler does
                location = dict(reply.headers).get("Location")
                if reply.status not in (301, 302) or not location:
                    break
                final, reply = location, web.answer("GET", location, "http://web.test")
            body = reply.body if 200 <= reply.status < 300 else b""
            verdict = want if body else (from_status(reply.status).verdict or "none")
            pages.append((f"sample-web-{number}", style, verdict, body, f"http://web.test{path}",
                          f"http://web.test{final}"))
    return pages


def own_corpus() -> None:
    print("\n== 3. our own labelled pages (written beside the rules: a regression check, not accuracy)")
    pairs, mixed, wrong_pages = [], [], []
    rendered = 0
    for source, style, want, body, requested, final in own_pages():
        if not body:
            pairs.append((want, want))  # a status verdict, not the classifier's
            continue
        moved = redirect_verdict(requested, final, requested != final)
        got = label(moved) if moved is not None else label(judge(read(body).evidence))
        if got == "needs-render" and "app" in style:
            rendered += 1  # a JavaScript app page of the sample web: a crawl renders it, then judges it
            continue
        pairs.append((want, got))
        if got != want:
            wrong_pages.append(f"{source} {style}: expected {want}, got {got}")
        if "mixed" in style or style == "seed-visible":
            mixed.append(got)
    p_, r_, f1, fp, fn = scores(pairs)
    wrong = sum(1 for want, got in pairs if want != got)
    print(f"{len(pairs)} pages ({rendered} JavaScript app pages left to the browser): precision {p_:.4f} "
          f"recall {r_:.4f} F1 {f1:.4f}, false alarms {fp}, missed {fn}, "
          f"other verdicts wrong {wrong - fp - fn}; mixed template+article pages ok: "
          f"{sum(v == 'ok' for v in mixed)} of {len(mixed)}")
    for line in wrong_pages:
        print(f"  {line}")


ROUNDS = 5  # each page is timed this many times; its fastest round counts (the rest is the machine's noise)


def speed() -> None:
    """Milliseconds per real live page, measured first, in a process that has built nothing else yet."""
    pages = [(url, HtmlResponse(url or "https://example.test/", body=body).text) for _, url, body in real_live_pages()]
    best: dict[str, list[float]] = {"parse": [], "read page": [], "verdict": []}
    for url, html in pages:
        rounds: dict[str, list[float]] = {part: [] for part in best}
        for _ in range(ROUNDS):
            start = time.perf_counter()
            tree = parse_html(html)
            parsed = time.perf_counter()
            if tree is None:
                break
            evidence = evidence_of(read_page(tree), url)
            read_at = time.perf_counter()
            judge(evidence)
            done = time.perf_counter()
            for part, ms in (("parse", parsed - start), ("read page", read_at - parsed), ("verdict", done - read_at)):
                rounds[part].append(ms * 1000)
        for part, values in rounds.items():
            if values:
                best[part].append(min(values))
    print(f"== 4. milliseconds per page ({len(best['verdict'])} real live pages, fastest of {ROUNDS} rounds each)")
    for part, values in best.items():
        print(f"{part:<10} median {statistics.median(values):.2f}  p95 {statistics.quantiles(values, n=20)[-1]:.2f}"
              + ("  (shared with the page analysis)" if part == "parse" else ""))
    added = [a + b for a, b in zip(best["read page"], best["verdict"], strict=True)]
    print(f"classifier (read page + verdict): median {statistics.median(added):.2f} ms (target at most 5)\n")


def main() -> None:
    speed()
    real_corpus()
    live_pages()
    own_corpus()


if __name__ == "__main__":
    main()
