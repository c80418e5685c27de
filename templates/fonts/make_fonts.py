"""Write the reports' fonts: DejaVu Sans Condensed (regular, bold) and DejaVu Sans Mono, cut
down to the scripts a class list and a report need, renamed "Grader Sans" / "Grader Mono".

Why bundle fonts at all: the reports then look the same on every machine (a fresh one may have
no DejaVu Condensed), and they render about a third of a second faster per PDF. WeasyPrint
subsets every font it embeds; on a full DejaVu face that costs about 0.15 s (fontTools decodes
its large GSUB/GPOS tables first), on these cut-down faces about 0.04 s.

What is kept: glyphs for Latin (with Extended-A/B and Vietnamese), Greek, Cyrillic, punctuation,
arrows, maths operators, box drawing, geometric shapes and dingbats (✓ ✗), and the legacy
`kern` table, so text is still kerned. What is dropped: every other glyph (anything else, e.g.
a Chinese name, falls back to the system's fonts), the OpenType layout tables (ligatures,
mark positioning) and hinting, which PDFs do not use. The DejaVu licence (LICENSE in this
folder) allows this and asks only that the changed fonts not be named Bitstream or Vera.

Run it after changing the ranges, from the repository root, with DejaVu installed
(Debian: fonts-dejavu-core and fonts-dejavu-extra):

    .venv/bin/python templates/fonts/make_fonts.py [--source /usr/share/fonts/truetype/dejavu]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from fontTools import subset
from fontTools.ttLib import TTFont

HERE = Path(__file__).resolve().parent

# (source file, new family, new style, output file)
FACES = (
    ("DejaVuSansCondensed.ttf", "Grader Sans", "Regular", "GraderSans-Regular.ttf"),
    ("DejaVuSansCondensed-Bold.ttf", "Grader Sans", "Bold", "GraderSans-Bold.ttf"),
    ("DejaVuSansMono.ttf", "Grader Mono", "Regular", "GraderMono-Regular.ttf"),
)

RANGES = (
    (0x0020, 0x007E),   # Basic Latin
    (0x00A0, 0x024F),   # Latin-1 Supplement, Latin Extended-A and -B
    (0x02B0, 0x036F),   # spacing modifier letters, combining diacritics
    (0x0370, 0x03FF),   # Greek
    (0x0400, 0x04FF),   # Cyrillic
    (0x1E00, 0x1EFF),   # Latin Extended Additional (Vietnamese)
    (0x2000, 0x20CF),   # general punctuation, super- and subscripts, currency
    (0x2100, 0x214F),   # letterlike symbols
    (0x2190, 0x22FF),   # arrows, mathematical operators
    (0x2500, 0x25FF),   # box drawing, block elements, geometric shapes
    (0x2700, 0x27BF),   # dingbats
    (0xFFFD, 0xFFFD),   # replacement character
)


def make_face(source: Path, family: str, style: str, out: Path) -> int:
    """Cut one face down and rename it; returns the number of glyphs kept."""
    options = subset.Options()
    options.layout_features = []
    options.drop_tables += ["GSUB", "GPOS", "GDEF", "MATH", "FFTM"]
    options.hinting = False
    options.notdef_outline = True
    options.name_IDs = [0, 1, 2, 3, 4, 5, 6, 13, 14]     # copyright, names, version, licence
    options.legacy_kern = True
    font = TTFont(source)
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=[c for low, high in RANGES for c in range(low, high + 1)])
    subsetter.subset(font)
    postscript = f"{family.replace(' ', '')}-{style}"
    names = font["name"]
    for record in list(names.names):
        if record.nameID in (1, 2, 3, 4, 6):
            names.removeNames(nameID=record.nameID)
    for name_id, text in ((1, family), (2, style), (3, f"{postscript} (grader, from DejaVu)"),
                          (4, f"{family} {style}" if style != "Regular" else family),
                          (6, postscript)):
        names.setName(text, name_id, 3, 1, 0x409)        # Windows, Unicode BMP, English
        names.setName(text, name_id, 1, 0, 0)            # Macintosh, Roman, English
    font.save(out)
    return len(font.getGlyphOrder())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, default=Path("/usr/share/fonts/truetype/dejavu"))
    args = parser.parse_args()
    for source, family, style, out in FACES:
        glyphs = make_face(args.source / source, family, style, HERE / out)
        print(f"{out}: {glyphs} glyphs, {(HERE / out).stat().st_size // 1024} KiB")


if __name__ == "__main__":
    main()
