"""Each knowledge file format is read into sections that keep the document's structure."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from guard.knowledge.loaders import LoaderError, find_files, load_file


def minimal_pdf(pages: list[str]) -> bytes:
    """A valid PDF with one text line per page, written by hand (pypdf cannot add text)."""
    objects: list[bytes] = []
    n = len(pages)
    page_ids = [4 + 2 * i for i in range(n)]
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    kids = " ".join(f"{pid} 0 R" for pid in page_ids)
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {n} >>".encode())
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    for i, text in enumerate(pages):
        content = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {page_ids[i] + 1} 0 R "
            "/Resources << /Font << /F1 3 0 R >> >> >>".encode()
        )
        objects.append(b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream")
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for num, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{num} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for off in offsets:
        out += f"{off:010d} 00000 n \n".encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def test_markdown_sections_follow_headings(tmp_path: Path) -> None:
    f = tmp_path / "a.md"
    f.write_text(
        "Intro line.\n\n# Models\n\nOverview.\n\n## DeepSeek-V3\n\n671B total.\n\n"
        "```\n# not a heading\n```\n\n## Qwen2.5 ##\n\n18T tokens.\n\n# Tools\n\nvLLM.\n",
        encoding="utf-8",
    )
    sections = load_file(f)
    assert [(s.heading, s.text.splitlines()[0]) for s in sections] == [
        ("", "Intro line."),
        ("Models", "Overview."),
        ("Models > DeepSeek-V3", "671B total."),
        ("Models > Qwen2.5", "18T tokens."),
        ("Tools", "vLLM."),
    ]
    assert "# not a heading" in sections[2].text


def test_plain_text_is_one_section(tmp_path: Path) -> None:
    f = tmp_path / "notes.txt"
    f.write_text("First paragraph.\n\nSecond paragraph.\n", encoding="utf-8")
    (section,) = load_file(f)
    assert section.text == "First paragraph.\n\nSecond paragraph."
    assert section.heading == ""
    (tmp_path / "empty.txt").write_text("  \n", encoding="utf-8")
    assert load_file(tmp_path / "empty.txt") == []


def test_html_drops_chrome_and_splits_at_headings(tmp_path: Path) -> None:
    f = tmp_path / "page.html"
    f.write_text(
        "<html><head><title>t</title><script>var x = 1;</script><style>p{}</style></head><body>"
        "<nav>Home | About</nav><h1>Serving</h1><p>Tools serve models.</p>"
        "<h2>vLLM</h2><p>Uses <b>PagedAttention</b>.</p><p>Line one<br>line two</p><ul><li>Port 8000</li><li><p>nested</p></li></ul>"
        "<footer>copyright</footer></body></html>",
        encoding="utf-8",
    )
    sections = load_file(f)
    assert [s.heading for s in sections] == ["Serving", "Serving > vLLM"]
    assert sections[0].text == "Tools serve models."
    assert sections[1].text == "Uses PagedAttention.\n\nLine one line two\n\nPort 8000\n\nnested"
    joined = " ".join(s.text for s in sections)
    assert "var x" not in joined and "Home" not in joined and "copyright" not in joined


def test_pdf_one_section_per_page(tmp_path: Path) -> None:
    f = tmp_path / "doc.pdf"
    f.write_bytes(minimal_pdf(["Llama 3.1 supports 128K context.", "SmolLM2 has three sizes."]))
    sections = load_file(f)
    assert [s.metadata["page"] for s in sections] == [1, 2]
    assert "Llama 3.1 supports 128K context." in sections[0].text
    assert "SmolLM2 has three sizes." in sections[1].text


def test_broken_pdf_is_a_loader_error(tmp_path: Path) -> None:
    f = tmp_path / "bad.pdf"
    f.write_bytes(b"%PDF-1.4\nthis is not a pdf")
    with pytest.raises(LoaderError, match="bad.pdf"):
        load_file(f)


def test_jsonl_records_keep_ids_sources_and_metadata(tmp_path: Path) -> None:
    f = tmp_path / "kb.jsonl"
    rows = [
        {"id": "a", "text": "Alpha.", "source": "handbook p.1", "metadata": {"lang": "en"}},
        {"id": "b", "text": "贝塔。", "source": "手册"},
    ]
    f.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n\n", encoding="utf-8")
    a, b = load_file(f)
    assert (a.id, a.text, a.source, a.metadata) == ("a", "Alpha.", "handbook p.1", {"lang": "en"})
    assert (b.id, b.text, b.source, b.metadata) == ("b", "贝塔。", "手册", {})


def test_jsonl_title_is_the_records_heading(tmp_path: Path) -> None:
    f = tmp_path / "kb.jsonl"
    rows = [
        {"id": "a", "text": "Trained on 18 trillion tokens.", "source": "s", "title": " Qwen2.5 "},
        {"id": "b", "text": "Trained on 15 trillion tokens.", "source": "s", "metadata": {"title": "Llama 3.1"}},
        {"id": "c", "text": "No title.", "source": "s"},
    ]
    f.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    assert [s.heading for s in load_file(f)] == ["Qwen2.5", "Llama 3.1", ""]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "invalid JSON"),
        ('{"id": "x", "text": "t"}', "'source'"),
        ('{"id": "x", "text": "", "source": "s"}', "'text'"),
        ('{"id": "x", "text": "t", "source": "s", "metadata": [1]}', "'metadata'"),
        ('["x"]', "expected an object"),
        ('{"id": "x", "text": "t", "source": "s", "title": 3}', "'title'"),
    ],
)
def test_jsonl_errors_name_the_line(tmp_path: Path, line: str, message: str) -> None:
    f = tmp_path / "kb.jsonl"
    f.write_text('{"id": "ok", "text": "t", "source": "s"}\n' + line + "\n", encoding="utf-8")
    with pytest.raises(LoaderError, match=rf"kb.jsonl:2: .*{message}"):
        load_file(f)


def test_jsonl_duplicate_id(tmp_path: Path) -> None:
    f = tmp_path / "kb.jsonl"
    f.write_text('{"id": "x", "text": "a", "source": "s"}\n{"id": "x", "text": "b", "source": "s"}\n')
    with pytest.raises(LoaderError, match="duplicate id 'x'"):
        load_file(f)


def test_unsupported_and_non_utf8(tmp_path: Path) -> None:
    (tmp_path / "x.docx").write_bytes(b"PK")
    with pytest.raises(LoaderError, match="unsupported"):
        load_file(tmp_path / "x.docx")
    (tmp_path / "latin.txt").write_bytes("caf\xe9".encode("latin-1"))
    with pytest.raises(LoaderError, match="UTF-8"):
        load_file(tmp_path / "latin.txt")


def test_find_files_is_sorted_and_skips_hidden_and_unknown(tmp_path: Path) -> None:
    for rel in ["b.md", "a/z.txt", "a/y.HTML", ".git/x.md", "a/.hidden.md", "c.docx", "d.jsonl"]:
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("x", encoding="utf-8")
    found = [p.relative_to(tmp_path).as_posix() for p in find_files(tmp_path)]
    assert found == ["a/y.HTML", "a/z.txt", "b.md", "d.jsonl"]
