"""The house style of every figure: NHS identity colours, readable, colour-blind safe, A4.

Colours are from the NHS identity guidelines (england.nhs.uk/nhsidentity), and only
those that reach WCAG 2.2's 3:1 contrast against the white page (1.4.11, non-text
contrast) draw data: orange (2.5:1), light blue (2.3:1), warm yellow (1.7:1) and pale grey
(1.2:1) are not used for marks. The categorical palette is ordered so that any two of its
first four colours stay apart for people with protanopia, deuteranopia or tritanopia
(checked in the tests by simulating each, after Machado, Oliveira and Fernandes 2009).
Figures are sized for the 16 cm text width of an A4 page with fonts of at least 9 pt.
``tests/test_06_figure_colours.py`` checks every figure's colours against these rules.

This is the one palette of the report: the stages' figures (`pcfm.model.figures`,
`pcfm.need.figures`, `pcfm.allocation.figures`) and the report's (`pcfm.report.figures`)
take their colours from here with :func:`new_figure` (a figure already sized and styled),
:func:`style_figure` (restyle a finished figure), :data:`PALETTE` and
:data:`CATEGORY_COLOURS` for the funding categories.
"""

from __future__ import annotations

import io
import weakref
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

#: NHS identity colours used by the report (those for data: 3:1 or more against white).
NHS_BLUE = "#005EB8"
NHS_DARK_BLUE = "#003087"
NHS_DARK_GREY = "#425563"
NHS_MID_GREY = "#768692"
NHS_DARK_PINK = "#7C2855"
NHS_DARK_RED = "#8A1538"
NHS_PINK = "#AE2573"
NHS_PURPLE = "#330072"
NHS_LIGHT_PURPLE = "#704C9C"
NHS_BRIGHT_BLUE = "#0072CE"
NHS_GREEN = "#009639"
NHS_AQUA_GREEN = "#00A499"
NHS_BLACK = "#231F20"
#: Backgrounds and gridlines only (1.2:1 against white: never a mark that carries data).
NHS_PALE_GREY = "#E8EDEE"
#: Too light against white for a mark (WCAG 1.4.11): kept for text backgrounds only.
NHS_LIGHT_BLUE = "#41B6E6"
NHS_ORANGE = "#ED8B00"
NHS_WARM_YELLOW = "#FFB81C"

#: The page every figure is drawn on.
WHITE = "#FFFFFF"
#: Contrast every mark that carries data reaches against the page (WCAG 2.2, 1.4.11).
MIN_CONTRAST = 3.0

#: Categorical palette, in order of use: dark blue, dark red, green and mid grey stay
#: distinct under every common colour-vision deficiency; all six reach 3:1 on white.
PALETTE = (NHS_DARK_BLUE, NHS_DARK_RED, NHS_GREEN, NHS_MID_GREY, NHS_PINK, NHS_AQUA_GREEN)

#: Funding categories, 1 = most under-funded: darkest first and lighter at every step, so
#: the order survives greyscale printing, with the hue changing between neighbours so
#: that next categories differ in colour too; every one 3:1 or more against white.
CATEGORY_COLOURS = (NHS_PURPLE, NHS_DARK_PINK, NHS_LIGHT_PURPLE, NHS_BRIGHT_BLUE, NHS_AQUA_GREEN)

#: A4 text width (21 cm minus 2.5 cm margins each side) in inches.
A4_TEXT_WIDTH_IN = 6.3
#: Smallest font size (points) of any text in a figure printed at A4 text width.
MIN_FONT_PT = 9.0

_FONT_SIZES = {"title": 11.0, "label": 10.0, "tick": 9.0, "legend": 9.0}


def new_figure(width_fraction: float = 1.0, aspect: float = 0.6) -> tuple[Figure, object]:
    """A figure and its axes, sized for A4 (``width_fraction`` of the text width).

    Style the finished figure with :func:`style_figure` so that texts added later follow
    the house sizes too.
    """
    width = A4_TEXT_WIDTH_IN * width_fraction
    figure = Figure(figsize=(width, width * aspect), dpi=150)
    axes = figure.add_subplot()
    axes.set_prop_cycle(color=list(PALETTE))
    return figure, axes


def style_figure(figure: Figure) -> Figure:
    """Apply the house style to a finished figure: font sizes, spines, grid, legend."""
    for axes in figure.axes:
        axes.title.set_fontsize(_FONT_SIZES["title"])
        axes.xaxis.label.set_fontsize(_FONT_SIZES["label"])
        axes.yaxis.label.set_fontsize(_FONT_SIZES["label"])
        axes.xaxis.label.set_color(NHS_BLACK)
        axes.yaxis.label.set_color(NHS_BLACK)
        axes.tick_params(labelsize=_FONT_SIZES["tick"], colors=NHS_DARK_GREY)
        for side in ("top", "right"):
            axes.spines[side].set_visible(False)
        for side in ("left", "bottom"):
            axes.spines[side].set_color(NHS_DARK_GREY)
        axes.grid(True, axis="y", color=NHS_PALE_GREY, linewidth=0.8)
        axes.set_axisbelow(True)
        legend = axes.get_legend()
        if legend is not None:
            legend.set_frame_on(False)
            for text in legend.get_texts():
                text.set_fontsize(_FONT_SIZES["legend"])
    figure.set_layout_engine("constrained")
    return figure


#: The resolution of published PNG figures and of the notebooks' figures.
PNG_DPI = 150
#: The PNG of each published figure (`pcfm.base.outputs.Outputs.publish_figure`), so that
#: showing it in the notebook does not draw it again; figures are finished when published.
_PUBLISHED_PNG: weakref.WeakKeyDictionary[Figure, bytes] = weakref.WeakKeyDictionary()


def figure_png(figure: Figure, dpi: int = PNG_DPI) -> bytes:
    """The figure as PNG bytes, without the software stamp (byte-identical reruns)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None})
    return buffer.getvalue()


def remember_published_png(figure: Figure, png: bytes) -> None:
    """Keep a published figure's PNG for :func:`show_figure`."""
    _PUBLISHED_PNG[figure] = png


def show_figure(figure: Figure | None, dpi: int = PNG_DPI, alt: str | None = None) -> Any:
    """A figure as a PNG for a notebook cell's output (Quarto and nbconvert embed it).

    A matplotlib ``Figure`` made without pyplot has no PNG representation in a kernel, so
    displaying it directly shows only ``<Figure size ...>``; this is the display to use.
    ``None`` (a figure the run has no data for) shows a short note instead. ``alt``: the
    figure's alt text written from this run's numbers, kept in the output's metadata; the
    render makes it the cell's ``fig-alt`` (`pcfm.pipeline.render.with_run_alt_text`).
    """
    from IPython.display import Image, Markdown

    if figure is None:
        return Markdown("*No data for this figure in this run.*")
    metadata = {"alt": alt} if alt else None
    published = _PUBLISHED_PNG.get(figure)
    if published is not None and dpi == PNG_DPI:
        return Image(data=published, format="png", metadata=metadata)
    return Image(data=figure_png(figure, dpi), format="png", metadata=metadata)


def smallest_font_pt(figure: Figure) -> float:
    """The smallest font size of any visible text in the figure, in points at print size."""
    sizes = [
        text.get_fontsize()
        for text in figure.findobj(lambda artist: hasattr(artist, "get_fontsize"))
        if text.get_visible() and text.get_text()  # type: ignore[attr-defined]
    ]
    return min(sizes) if sizes else float("inf")


# --- colour-vision deficiency simulation (Machado et al. 2009, severity 1) -------------

_CVD_MATRICES = {
    "protanopia": np.array(
        [[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216],
         [-0.003882, -0.048116, 1.051998]]
    ),
    "deuteranopia": np.array(
        [[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413],
         [-0.011820, 0.042940, 0.968881]]
    ),
    "tritanopia": np.array(
        [[1.255528, -0.076749, -0.178779], [-0.078411, 0.930809, 0.147602],
         [0.004733, 0.691367, 0.303900]]
    ),
}  # fmt: skip


def _hex_to_linear_rgb(colour: str) -> np.ndarray:
    srgb = np.array([int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)])
    return np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)


def _linear_rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    xyz = np.array(
        [[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]
    ) @ np.clip(rgb, 0, 1)
    xyz = xyz / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def perceived_lab(colour: str, deficiency: str | None = None) -> np.ndarray:
    """CIELAB coordinates of a colour as seen with normal vision or a named deficiency."""
    rgb = _hex_to_linear_rgb(colour)
    if deficiency is not None:
        rgb = _CVD_MATRICES[deficiency] @ rgb
    return _linear_rgb_to_lab(rgb)


def smallest_colour_difference(colours: Sequence[str], deficiency: str | None = None) -> float:
    """Smallest CIE76 ΔE between any two of ``colours`` as perceived (> 20 reads as distinct)."""
    labs = [perceived_lab(c, deficiency) for c in colours]
    return min(
        float(np.linalg.norm(labs[i] - labs[j]))
        for i in range(len(labs))
        for j in range(i + 1, len(labs))
    )


def relative_luminance(colour: str) -> float:
    """WCAG 2.2 relative luminance of an ``#RRGGBB`` colour."""
    return float(_hex_to_linear_rgb(colour) @ np.array([0.2126, 0.7152, 0.0722]))


def contrast_ratio(colour: str, background: str = WHITE) -> float:
    """WCAG 2.2 contrast ratio of two colours (1 to 21)."""
    lighter, darker = sorted(
        (relative_luminance(colour), relative_luminance(background)), reverse=True
    )
    return (lighter + 0.05) / (darker + 0.05)
