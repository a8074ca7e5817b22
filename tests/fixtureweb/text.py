"""Deterministic prose for the sample news web, in English and Chinese.

Text is generated from small vocabularies with a seeded RNG so every run of the web serves the same bytes,
yet articles differ enough that near-duplicate detection and extraction see realistic variety.
"""

from __future__ import annotations

import random

_SUBJECTS = [
    "The city council", "Regional officials", "A coalition of farmers", "The central bank", "Local residents",
    "Shipping companies", "The health ministry", "University researchers", "Union leaders", "The port authority",
    "Several start-ups", "The national railway", "Energy regulators", "A group of teachers", "Insurers",
    "The weather service", "Museum curators", "Airport operators", "Fishing cooperatives", "Water engineers",
]
_VERBS = [
    "announced", "postponed", "approved", "criticised", "welcomed", "questioned", "unveiled", "rejected",
    "expanded", "reviewed", "defended", "funded", "delayed", "simplified", "tested", "published",
]
_OBJECTS = [
    "a plan to rebuild the northern bridge", "new rules on short-term rentals", "the budget for next year",
    "a pilot programme for electric buses", "the report on coastal erosion", "a proposal to extend opening hours",
    "changes to the pension scheme", "a study of air quality near schools", "the merger of two hospitals",
    "an agreement on grain exports", "a review of flood defences", "the tender for the new tram line",
    "plans for a solar farm", "the reform of apprenticeships", "a survey of household spending",
]
_ADJUNCTS = [
    "on Tuesday", "after months of talks", "despite strong objections", "ahead of the winter season",
    "in a statement released late on Friday", "following a public consultation", "at a crowded meeting",
    "according to documents seen by reporters", "for the second time this year", "without giving a date",
    "amid rising costs", "in front of a small crowd", "after an independent audit", "with little warning",
]
_QUOTES = [
    "We have listened carefully and this is the right decision", "Nobody expected the costs to rise so fast",
    "The figures speak for themselves", "It will take years before anyone sees the benefit",
    "We are asking for patience and for trust", "This is only the first step",
]
_NAMES = [
    "Maria Lindqvist", "Tomas Okafor", "Aiko Tanaka", "Daniel Brennan", "Leila Haddad", "Pedro Alves",
    "Sofia Ivanova", "Chen Wei", "Grace Mensah", "Lukas Hoffmann", "Nadia Rahman", "Oliver Grant",
]
_ZH_SUBJECTS = [
    "国务院", "市政府", "多家企业", "研究人员", "地方官员", "交通运输部", "工业和信息化部", "农业合作社",
    "央行", "高校专家", "港口管理部门", "能源监管机构",
]
_ZH_VERBS = ["发布了", "公布了", "推进了", "批准了", "审议了", "启动了", "完善了", "部署了"]
_ZH_OBJECTS = [
    "关于工业互联网发展的指导意见", "新能源汽车推广计划", "农村电商扶持政策", "城市更新改造方案",
    "智能制造试点项目", "跨境贸易便利化措施", "绿色金融发展规划", "数字经济统计办法", "港口物流升级工程",
    "职业教育改革方案",
]
_ZH_ADJUNCTS = [
    "以进一步促进高质量发展", "为下一阶段工作明确方向", "引起社会广泛关注", "预计将惠及数百万家庭",
    "并要求各地认真贯彻落实", "相关负责人在发布会上作了说明", "此举旨在降低企业成本",
]
_ZH_NAMES = ["王芳", "李强", "张伟", "刘洋", "陈静", "杨帆", "赵磊", "周敏"]


def english_sentence(rng: random.Random) -> str:
    """One plausible news sentence; occasionally a quotation."""
    if rng.random() < 0.18:
        return f'"{rng.choice(_QUOTES)}," said {rng.choice(_NAMES)}.'
    return f"{rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} {rng.choice(_OBJECTS)} {rng.choice(_ADJUNCTS)}."


def chinese_sentence(rng: random.Random) -> str:
    """One plausible Chinese news sentence (full-width punctuation, no spaces)."""
    return f"{rng.choice(_ZH_SUBJECTS)}{rng.choice(_ZH_VERBS)}{rng.choice(_ZH_OBJECTS)}，{rng.choice(_ZH_ADJUNCTS)}。"


def paragraphs(rng: random.Random, lang: str, count: int) -> list[str]:
    """`count` paragraphs of 3-5 sentences each."""
    sentence = chinese_sentence if lang == "zh" else english_sentence
    joiner = "" if lang == "zh" else " "
    return [joiner.join(sentence(rng) for _ in range(rng.randint(3, 5))) for _ in range(count)]


def headline(rng: random.Random, lang: str) -> str:
    """A headline built from the same vocabulary as the body."""
    if lang == "zh":
        return f"{rng.choice(_ZH_SUBJECTS)}{rng.choice(_ZH_VERBS)}{rng.choice(_ZH_OBJECTS)}"
    obj = rng.choice(_OBJECTS)
    return f"{rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} {obj}"


def author_names(rng: random.Random, lang: str) -> list[str]:
    """One or two bylines."""
    pool = _ZH_NAMES if lang == "zh" else _NAMES
    return rng.sample(pool, rng.choice([1, 1, 2]))


def slugify(title: str, limit: int = 8) -> str:
    """URL slug from an English headline."""
    words = "".join(c.lower() if c.isalnum() else " " for c in title).split()
    return "-".join(words[:limit])
