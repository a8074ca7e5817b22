"""Settings and site configs: good ones load, bad ones fail naming the file, the key and what was expected."""

from __future__ import annotations

from pathlib import Path

import pytest
from scrapy.settings import Settings

import settings.base as base_settings
from crawler.config import ArchiveConfig, check_unknown_settings, crawl_config, store_config
from crawler.errors import ConfigError
from crawler.preflight import check
from crawler.siteconfig import load_site

SITES = Path(__file__).resolve().parents[2] / "settings" / "sites"


def _project_settings(**overrides: object) -> Settings:
    settings = Settings()
    settings.setmodule("settings.base", priority="project")
    for key, value in overrides.items():
        settings.set(key, value, priority="cmdline")
    return settings


def test_shipped_site_configs_load() -> None:
    demo = load_site("demo", SITES)
    assert [s.name for s in demo.sections] == ["world", "business", "tech", "china", "live"]
    assert demo.domains == ["127.0.0.1"]
    china = load_site("chinadaily", SITES)
    assert china.timezone == "Asia/Shanghai" and china.obey_robots
    assert china.sections[1].url == "https://www.chinadaily.com.cn/business/biz_industries"
    assert china.feeds == ["https://www.chinadaily.com.cn/rss/bizchina_rss.xml"]


@pytest.mark.parametrize(("toml", "expected"), [
    ('max_pages_per_section = "ten"', "key 'max_pages_per_section': Input should be a valid integer"),
    ("sectons = []", "key 'sectons': unknown key"),
    ('article_patterns = ["(unclosed"]', "key 'article_patterns[0]': Value error, not a valid regular expression"),
    ('timezone = "Mars/Olympus"', "key 'timezone': Value error, expected an IANA time zone name"),
    ("[politeness]\ndelay = -1", "key 'politeness.delay': Input should be greater than or equal to 0"),
    ('[[sections]]\nname = "x"\nurl = "world/"', "key 'sections[0].url': Value error, a relative URL must start"),
    ('[[sections]]\nname = "x"', "key 'sections[0].url': Field required"),
])
def test_bad_site_config_names_file_key_and_expectation(tmp_path: Path, toml: str, expected: str) -> None:
    path = tmp_path / "broken.toml"
    path.write_text(f'base_url = "https://news.example/"\n{toml}\n')
    with pytest.raises(ConfigError) as info:
        load_site("broken", tmp_path)
    assert str(info.value).startswith(f"{path}: ")
    assert expected in str(info.value)


def test_unparsable_toml_and_missing_site(tmp_path: Path) -> None:
    (tmp_path / "bad.toml").write_text("base_url = \n")
    with pytest.raises(ConfigError, match=r"bad\.toml: not valid TOML"):
        load_site("bad", tmp_path)
    with pytest.raises(ConfigError, match=r"known sites in .*: bad"):
        load_site("absent", tmp_path)


def test_base_url_override_moves_same_origin_urls_only(tmp_path: Path) -> None:
    (tmp_path / "s.toml").write_text(
        'base_url = "https://news.example/"\nfeeds = ["/rss.xml", "https://feeds.other.example/news.xml"]\n'
        '[[sections]]\nname = "world"\nurl = "/world/?page=1"\n')
    site = load_site("s", tmp_path).with_base_url("http://127.0.0.1:9999/")
    assert site.sections[0].url == "http://127.0.0.1:9999/world/?page=1"
    assert site.feeds == ["http://127.0.0.1:9999/rss.xml", "https://feeds.other.example/news.xml"]
    assert site.domains == ["127.0.0.1"]


def test_an_article_s_section_is_the_deepest_section_directory_holding_it(tmp_path: Path) -> None:
    (tmp_path / "s.toml").write_text(
        'name = "s"\nbase_url = "https://news.example/"\n'
        '[[sections]]\nname = "world"\nurl = "/world/"\n[[sections]]\nname = "europe"\nurl = "/world/europe/"\n'
        '[[sections]]\nname = "biz"\nurl = "/business/index.html"\n[[sections]]\nname = "money"\nurl = "/business/"\n'
        '[[sections]]\nname = "home"\nurl = "/"\n')
    site = load_site("s", tmp_path)
    assert site.section_of("https://news.example/world/2026/a.html") == "world"
    assert site.section_of("/world/europe/2026/b.html") == "europe"  # the deeper one
    assert site.section_of("/business/c.html") is None  # two sections share the directory: no guess
    assert site.section_of("/d.html") is None and site.section_of("https://other.example/world/e.html") is None


def test_settings_defaults_are_valid() -> None:
    settings = _project_settings()
    assert store_config(settings).uri == "file://./data/store"
    assert crawl_config(settings).progress == "auto"


@pytest.mark.parametrize(("key", "value", "expected"), [
    ("STORE_URI", "ftp://host/x", "expected a file:// or s3:// URI"),
    ("STORE_PART_MAX_RECORDS", "many", "valid integer"),
    ("CRAWL_PROGRESS", "sometimes", "'auto', 'on' or 'off'"),
    ("CRAWL_ID", "a/b", "should match pattern"),
])
def test_bad_setting_names_key_and_source(key: str, value: str, expected: str) -> None:
    settings = _project_settings(**{key: value})
    with pytest.raises(ConfigError) as info:
        store_config(settings) if key.startswith("STORE") else crawl_config(settings)
    assert str(info.value).startswith(f"the command line (-s): key '{key}'")
    assert expected in str(info.value)


def _unknown(settings: Settings) -> list[str]:
    with pytest.raises(ConfigError) as info:
        check_unknown_settings(settings)
    return str(info.value).splitlines()


def test_a_typo_under_our_prefix_names_key_source_and_closest_key() -> None:
    assert _unknown(_project_settings(ARCHIVE_DEDUPE=False)) == [
        "the command line (-s): key 'ARCHIVE_DEDUPE': unknown setting (did you mean 'ARCHIVE_DEDUP'?)"]
    assert _unknown(_project_settings(archive_dedup=False)) == [
        "the command line (-s): key 'archive_dedup': unknown setting (did you mean 'ARCHIVE_DEDUP'?)"]


def test_an_unknown_key_without_a_close_match_lists_its_prefix_s_settings() -> None:
    [line] = _unknown(_project_settings(RENDER_QQQXYZZY=1))
    assert line.startswith("the command line (-s): key 'RENDER_QQQXYZZY': unknown setting (the RENDER_* settings are ")
    assert "did you mean" not in line and "RENDER_TIMEOUT" in line
    [line] = _unknown(_project_settings(SCHEDULE_ZZWQQQXYZZY=1))
    assert line.startswith("the command line (-s): key 'SCHEDULE_ZZWQQQXYZZY': unknown setting (the SCHEDULE_* ")


def test_every_unknown_key_is_reported_at_once_one_line_each_with_where_it_was_set() -> None:
    settings = _project_settings(STORE_URL="s3://b/", ARCHIVE_DEDUPE=False)
    settings.set("SOFT404_PROBE", False, priority="spider")
    assert _unknown(settings) == [
        "the command line (-s): key 'ARCHIVE_DEDUPE': unknown setting (did you mean 'ARCHIVE_DEDUP'?)",
        "the site config: key 'SOFT404_PROBE': unknown setting (did you mean 'SOFT404_PROBES'?)",
        "the command line (-s): key 'STORE_URL': unknown setting (did you mean 'STORE_URI'?)",
    ]


def test_keys_of_other_prefixes_are_never_flagged() -> None:
    # SCHEDULER_* is Scrapy's, not SCHEDULE_*; PLAYWRIGHT_* is scrapy-playwright's.
    check_unknown_settings(_project_settings(DOWNLOAD_DELAY=2, SCHEDULER_PRIORITY_QUEUE="x",
                                             PLAYWRIGHT_BROWSER_TYPE="x", MY_ARCHIVE_DEDUPE=False))


def test_every_key_settings_base_defines_is_accepted_from_any_source() -> None:
    keys = [name for name in dir(base_settings) if name.isupper()]
    assert "ARCHIVE_DEDUP" in keys and "STORE_URI" in keys
    check_unknown_settings(_project_settings(**{key: getattr(base_settings, key) for key in keys}))


def test_known_keys_are_read_from_settings_base_and_the_config_models(monkeypatch: pytest.MonkeyPatch) -> None:
    # No list of keys of our own: a setting added to settings/base.py is known at once ...
    monkeypatch.setattr(base_settings, "ARCHIVE_BRAND_NEW", 1, raising=False)
    check_unknown_settings(_project_settings(ARCHIVE_BRAND_NEW=2))
    # ... and so is a key a config model reads, even if settings/base.py lost it.
    assert ArchiveConfig.model_fields["dedup"].alias == "ARCHIVE_DEDUP"
    monkeypatch.delattr(base_settings, "ARCHIVE_DEDUP")
    check_unknown_settings(_project_settings(ARCHIVE_DEDUP=False))


def test_preflight_rejects_unknown_settings_before_anything_else() -> None:
    with pytest.raises(ConfigError, match=r"^the command line \(-s\): key 'ARCHIVE_DEDUPE': unknown setting"):
        check(_project_settings(ARCHIVE_DEDUPE=False, STORE_URI="ftp://x/"), {})
    check(_project_settings(), {})
