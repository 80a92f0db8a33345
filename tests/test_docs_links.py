"""README.md and docs/*.md: every link and image points at something that exists, and the README stays a
short front door (no history: no session numbers, no "first try")."""

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]

# [text](target) and ![alt](target); the target ends at whitespace or ')' (a title "..." may follow)
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
FENCE = re.compile(r"^(```|~~~)")
README_MAX_LINES = 260
HISTORY_WORDS = re.compile(r"\bsessions?\b|\b(first|second|third|fourth|fifth|sixth)\s+try\b", re.IGNORECASE)


def link_targets(markdown: str) -> list[str]:
    """The targets of the markdown links and images of a page, outside code blocks and inline code."""
    targets, in_code = [], False
    for line in markdown.splitlines():
        if FENCE.match(line.strip()):
            in_code = not in_code
            continue
        if not in_code:
            targets += LINK.findall(re.sub(r"`[^`]*`", "", line))
    return targets


def heading_anchors(markdown: str) -> set[str]:
    """GitHub's anchors for a page's headings (lower case, punctuation dropped, spaces to '-'), and any
    explicit <a id="...">."""
    anchors, in_code = set(), False
    for line in markdown.splitlines():
        if FENCE.match(line.strip()):
            in_code = not in_code
            continue
        if in_code:
            continue
        anchors.update(re.findall(r'<a id="([^"]+)"', line))
        heading = re.match(r"#{1,6}\s+(.*)", line)
        if heading:
            text = heading.group(1).strip().lower()
            anchors.add(re.sub(r"[^\w\- ]", "", text).replace(" ", "-"))
    return anchors


def broken_links(page: Path, markdown: str | None = None) -> list[str]:
    """Local targets of `page` that do not exist: a missing file, or a #fragment that names no heading of the
    markdown page it points into. Web addresses are not checked."""
    markdown = page.read_text() if markdown is None else markdown
    broken = []
    for target in link_targets(markdown):
        if re.match(r"[a-z][a-z0-9+.-]*:", target, re.IGNORECASE):  # http(s)://, mailto: ...
            continue
        path_part, _, fragment = target.partition("#")
        resolved = page if not path_part else (page.parent / path_part)
        if not resolved.exists():
            broken.append(target)
        elif fragment and resolved.suffix == ".md" and fragment not in heading_anchors(resolved.read_text()):
            broken.append(target)
    return broken


def test_the_extractor_finds_links_and_images_and_skips_code():
    text = ("See [the tour](docs/tour.md#reading-order) and ![curve](results/x.png \"title\").\n"
            "A [web page](https://example.com) and [an anchor](#set-up).\n"
            "`[not a link](nowhere.md)` in inline code\n"
            "```\n[not a link](in/a/code/block.md)\n```\n")
    assert link_targets(text) == ["docs/tour.md#reading-order", "results/x.png", "https://example.com", "#set-up"]


def test_a_broken_link_or_image_is_reported(tmp_path):
    (tmp_path / "there.md").write_text("# A heading\n")
    page = tmp_path / "page.md"
    text = ("# Top\n[ok](there.md) [ok too](there.md#a-heading) [ok](#top) [web](http://example.com/missing)\n"
            "[missing file](docs/missing.md) ![missing image](results/missing.png)\n"
            "[missing anchor](there.md#no-such-heading) [missing here](#nowhere)\n")
    page.write_text(text)
    assert broken_links(page) == ["docs/missing.md", "results/missing.png", "there.md#no-such-heading", "#nowhere"]


def test_heading_anchors_follow_github():
    text = "## 2026-11-28: masked LM, then MLM + NSP (superseded)\n## NER fine-tuning: `bench/bench_ner.py`\n"
    assert heading_anchors(text) == {"2026-11-28-masked-lm-then-mlm--nsp-superseded",
                                     "ner-fine-tuning-benchbench_nerpy"}


def test_the_docs_pages_exist():
    names = {page.name for page in PAGES}
    assert {"README.md", "results.md", "tour.md", "performance.md"} <= names


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(REPO)))
def test_every_link_and_image_exists(page):
    assert link_targets(page.read_text()), f"{page.name} has no links at all"
    assert broken_links(page) == []


def test_the_readme_is_a_short_front_door():
    text = (REPO / "README.md").read_text()
    assert len(text.splitlines()) <= README_MAX_LINES
    assert HISTORY_WORDS.findall(text) == []


def test_the_history_check_can_fail():
    assert HISTORY_WORDS.search("as measured in session 4")
    assert HISTORY_WORDS.search("Second try: two phases")
    assert not HISTORY_WORDS.search("try it with --dry-run")
