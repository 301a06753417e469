"""`charrnn inspect RUN --html OUT.html`: one self-contained page of an inspection.

Everything is inline (the styles, the renderer static/inside.js, the data), so the file opens
offline and can be mailed or put anywhere: nothing is loaded from elsewhere. The page shows the
text coloured by surprisal, a tooltip with the model's top guesses on hover or tap, and a picker
that recolours the text by entropy or by one unit (the finder's top units for this text and any
asked for with --units).
"""

from __future__ import annotations

import html
import json
from pathlib import Path

from charrnn.inside.inspection import Inspection, Unit
from charrnn.inside.neurons import Finding

RENDERER = Path(__file__).parent / "static" / "inside.js"
STYLE = Path(__file__).parent / "static" / "inside.css"
PAGE_STYLE = """
body { margin: 0 auto; max-width: 60rem; padding: 1rem; font: 16px/1.5 system-ui, sans-serif; color: #1d2330;
  background: #fbfaf7; }
h1 { font-size: 1.2rem; margin: 0 0 .25rem; }
.muted { color: #5d6678; font-size: .9rem; }
"""


def _script_json(value) -> str:
    """JSON that is safe inside <script>: no "</" can end the element early."""
    return json.dumps(value, ensure_ascii=False).replace("</", "<\\/")


def page(inspection: Inspection, findings: list[Finding], units: list[Unit], title: str, summary: str) -> str:
    """The whole page as one string. `units`: the activations to carry (the finders' and the asked-for)."""
    data = inspection.to_dict(units)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>{PAGE_STYLE}{STYLE.read_text(encoding="utf-8")}</style>
</head>
<body>
<h1>{html.escape(title)}</h1>
<p class="muted">{html.escape(summary)}. Hover or tap a character for the model's guesses.</p>
<div id="inside" class="inside"></div>
<script>{RENDERER.read_text(encoding="utf-8")}</script>
<script>
Inside.mount(document.getElementById("inside"), {_script_json(data)}, {_script_json([f.to_dict() for f in findings])});
</script>
</body>
</html>
"""
