"""The tray's four icons, drawn in code: a shield whose colour and mark tell the state apart
even in grey-scale (check, exclamation, broken link, cross)."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPainterPath, QPen, QPixmap

STATES = ("compliant", "action", "offline", "agent-down", "starting")

_COLOURS = {
    "compliant": "#2e9d4f",
    "action": "#e08a00",
    "offline": "#5a7fa8",
    "agent-down": "#c62828",
    "starting": "#8a8a8a",
}


def _shield(size: float) -> QPainterPath:
    s = size
    path = QPainterPath()
    path.moveTo(s * 0.5, s * 0.04)
    path.lineTo(s * 0.9, s * 0.18)
    path.cubicTo(s * 0.9, s * 0.6, s * 0.75, s * 0.82, s * 0.5, s * 0.97)
    path.cubicTo(s * 0.25, s * 0.82, s * 0.1, s * 0.6, s * 0.1, s * 0.18)
    path.closeSubpath()
    return path


def pixmap(state: str, size: int = 64) -> QPixmap:
    pm = QPixmap(size, size)
    pm.fill(Qt.GlobalColor.transparent)
    p = QPainter(pm)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    colour = QColor(_COLOURS.get(state, "#8a8a8a"))
    p.setPen(QPen(colour.darker(140), max(1.0, size / 32)))
    p.setBrush(colour)
    p.drawPath(_shield(size))
    pen = QPen(QColor("white"), max(2.0, size / 9), Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap)
    p.setPen(pen)
    p.setBrush(Qt.BrushStyle.NoBrush)
    s = size
    if state == "compliant":
        p.drawPolyline(
            [QPointF(s * 0.3, s * 0.5), QPointF(s * 0.45, s * 0.65), QPointF(s * 0.7, s * 0.36)]
        )
    elif state == "action":
        p.drawLine(QPointF(s * 0.5, s * 0.26), QPointF(s * 0.5, s * 0.56))
        p.drawPoint(QPointF(s * 0.5, s * 0.72))
    elif state == "offline":
        # a broken link: two rounded halves with a gap
        pen.setWidthF(max(1.5, size / 14))
        p.setPen(pen)
        p.drawArc(QRectF(s * 0.22, s * 0.36, s * 0.26, s * 0.22), 90 * 16, 180 * 16)
        p.drawArc(QRectF(s * 0.52, s * 0.36, s * 0.26, s * 0.22), -90 * 16, 180 * 16)
        p.drawLine(QPointF(s * 0.35, s * 0.36), QPointF(s * 0.42, s * 0.36))
        p.drawLine(QPointF(s * 0.35, s * 0.58), QPointF(s * 0.42, s * 0.58))
        p.drawLine(QPointF(s * 0.58, s * 0.36), QPointF(s * 0.65, s * 0.36))
        p.drawLine(QPointF(s * 0.58, s * 0.58), QPointF(s * 0.65, s * 0.58))
    elif state == "agent-down":
        p.drawLine(QPointF(s * 0.33, s * 0.32), QPointF(s * 0.67, s * 0.66))
        p.drawLine(QPointF(s * 0.67, s * 0.32), QPointF(s * 0.33, s * 0.66))
    else:  # starting: three dots
        for x in (0.32, 0.5, 0.68):
            p.drawPoint(QPointF(s * x, s * 0.5))
    p.end()
    return pm


def icon(state: str) -> QIcon:
    result = QIcon()
    for size in (16, 22, 24, 32, 48, 64):
        result.addPixmap(pixmap(state, size))
    return result
