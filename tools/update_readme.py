"""Regenerate the options table of README.md from painterly.config.Options."""

from pathlib import Path

from painterly.config import options_markdown

readme = Path(__file__).resolve().parents[1] / "README.md"
text = readme.read_text()
begin, end = "<!-- OPTIONS:BEGIN -->\n", "<!-- OPTIONS:END -->"
a, b = text.index(begin) + len(begin), text.index(end)
readme.write_text(text[:a] + options_markdown() + text[b:])
print(f"updated {readme}")
