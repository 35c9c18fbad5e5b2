"""A tiny document model (sections of paragraphs, tables and figures) rendered to Markdown and HTML.

Sections are built once and rendered twice, so ``report.md`` and ``report.html`` can never show
different numbers. The HTML is self-contained: inline CSS, figures as base64 data URIs, no scripts
and no external references, so it can be mailed or archived as one file.
"""

from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass, field
from pathlib import Path

from landseg.utils import markdown_table

NOT_RUN = "not run"


@dataclass
class Para:
    """A paragraph; ``**bold**`` and ```code``` are the only inline markup (same in both outputs)."""

    text: str


@dataclass
class Table:
    headers: list[str]
    rows: list[list[str]]
    #: "l" or "r" per column; default: first column left, the rest right (numbers).
    align: list[str] | None = None
    caption: str = ""
    #: The last column holds free text (notes): HTML gives it room to wrap instead of squeezing it.
    notes: bool = False

    def alignment(self) -> list[str]:
        return self.align or ["l"] + ["r"] * (len(self.headers) - 1)


@dataclass
class Figure:
    path: Path
    caption: str


@dataclass
class FigureGrid:
    """Figures shown side by side in HTML (e.g. one confusion matrix per model)."""

    figures: list[Figure]


Block = Para | Table | Figure | FigureGrid


@dataclass
class Section:
    title: str
    anchor: str
    blocks: list[Block] = field(default_factory=list)


# --- Markdown -----------------------------------------------------------------------------------

def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _md_table(t: Table) -> str:
    text = markdown_table([_md_cell(h) for h in t.headers], [[_md_cell(c) for c in row] for row in t.rows],
                          [a == "r" for a in t.alignment()], pad=False)
    return f"{text}\n\n*{t.caption}*" if t.caption else text


def _md_figure(f: Figure) -> str:
    return f"![{f.caption}]({f.path.name})\n\n*{f.caption}*"


def render_markdown(title: str, intro: list[Para], sections: list[Section]) -> str:
    """The report as Markdown; figures are referenced by file name (the PNGs sit next to it)."""
    parts = [f"# {title}", *(p.text for p in intro), "## Contents",
             "\n".join(f"{i}. [{s.title}](#{s.anchor})" for i, s in enumerate(sections, 1))]
    for s in sections:
        parts.append(f'<a id="{s.anchor}"></a>\n\n## {s.title}')
        for b in s.blocks:
            if isinstance(b, Para):
                parts.append(b.text)
            elif isinstance(b, Table):
                parts.append(_md_table(b))
            elif isinstance(b, Figure):
                parts.append(_md_figure(b))
            else:
                parts += [_md_figure(f) for f in b.figures]
    return "\n\n".join(parts) + "\n"


# --- HTML ---------------------------------------------------------------------------------------

_CSS = """
:root { --ink: #1f2933; --muted: #616e7c; --rule: #d9e2ec; --band: #f5f7fa; --accent: #2f6f4f; }
* { box-sizing: border-box; }
body { margin: 0; background: #eef1f4; color: var(--ink);
       font: 15px/1.5 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1180px; margin: 24px auto; background: #fff; padding: 28px 40px 40px;
       border-radius: 6px; box-shadow: 0 1px 4px rgba(0,0,0,.08); }
h1 { font-size: 26px; margin: 0 0 6px; color: var(--accent); }
h2 { font-size: 20px; margin: 36px 0 10px; padding-bottom: 4px; border-bottom: 2px solid var(--rule); }
p { margin: 8px 0; }
code { font: 13px/1.4 "SFMono-Regular", Menlo, Consolas, monospace; background: var(--band);
       padding: 1px 4px; border-radius: 3px; }
nav ol { columns: 2; margin: 6px 0 0; padding-left: 22px; }
nav a, nav a:visited { color: var(--accent); text-decoration: none; }
.table-wrap { overflow-x: auto; margin: 12px 0 4px; }
table { border-collapse: collapse; font-size: 13.5px; font-variant-numeric: tabular-nums; }
th, td { padding: 5px 10px; border-bottom: 1px solid var(--rule); vertical-align: top; }
th { background: var(--band); font-weight: 600; text-align: left; border-bottom: 2px solid var(--rule);
     vertical-align: bottom; }
th.r, td.r { text-align: right; }
td.r { white-space: nowrap; }
td.notes { min-width: 300px; font-size: 13px; color: #3e4c59; }
tbody tr:hover { background: #fafcff; }
td.na { color: #9aa5b1; font-style: italic; }
.pos { color: #1e7b34; } .neg { color: #b42318; }
.caption { color: var(--muted); font-size: 13px; margin: 2px 0 14px; }
figure { margin: 16px 0; text-align: center; }
figure img { max-width: 100%; height: auto; border: 1px solid var(--rule); border-radius: 4px; }
figcaption { color: var(--muted); font-size: 13px; margin-top: 4px; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(460px, 1fr)); gap: 12px; }
.grid figure { margin: 4px 0; }
"""

_DELTA = re.compile(r"(?<![\w.])([+−])(\d[\d,.]*)")


def _inline(text: str) -> str:
    out = html.escape(text, quote=False)
    out = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", out)
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", out)


def _cell(text: str) -> str:
    """Escaped cell text with signed deltas coloured (+ green, − red)."""
    out = _inline(text)
    return _DELTA.sub(lambda m: f'<span class="{"pos" if m.group(1) == "+" else "neg"}">{m.group(0)}</span>', out)


def _html_table(t: Table) -> str:
    align = t.alignment()
    head = "".join(f'<th class="{a}">{_inline(h)}</th>' for h, a in zip(t.headers, align, strict=True))
    rows = []
    for row in t.rows:
        cells = []
        for i, (c, a) in enumerate(zip(row, align, strict=True)):
            cls = f"{a} na" if c.startswith(NOT_RUN) or c in ("n/a", "—") else a
            cls += " notes" if t.notes and i == len(row) - 1 else ""
            cells.append(f'<td class="{cls}">{_cell(c)}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    cap = f'<p class="caption">{_inline(t.caption)}</p>' if t.caption else ""
    return (f'<div class="table-wrap"><table><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></div>{cap}')


def data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _html_figure(f: Figure) -> str:
    return (f'<figure><img src="{data_uri(f.path)}" alt="{html.escape(f.caption)}">'
            f"<figcaption>{_inline(f.caption)}</figcaption></figure>")


def render_html(title: str, intro: list[Para], sections: list[Section]) -> str:
    """The report as one self-contained HTML page (figures embedded as base64 PNG data URIs)."""
    body = [f"<h1>{_inline(title)}</h1>", *(f"<p>{_inline(p.text)}</p>" for p in intro),
            "<nav><strong>Contents</strong><ol>"
            + "".join(f'<li><a href="#{s.anchor}">{_inline(s.title)}</a></li>' for s in sections)
            + "</ol></nav>"]
    for s in sections:
        body.append(f'<section id="{s.anchor}"><h2>{_inline(s.title)}</h2>')
        for b in s.blocks:
            if isinstance(b, Para):
                body.append(f"<p>{_inline(b.text)}</p>")
            elif isinstance(b, Table):
                body.append(_html_table(b))
            elif isinstance(b, Figure):
                body.append(_html_figure(b))
            else:
                body.append('<div class="grid">' + "".join(_html_figure(f) for f in b.figures) + "</div>")
        body.append("</section>")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{html.escape(title)}</title>"
            f"<style>{_CSS}</style></head><body><main>\n" + "\n".join(body) + "\n</main></body></html>\n")
