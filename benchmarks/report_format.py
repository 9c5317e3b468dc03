"""Formatting helpers shared by the BENCHMARKS.md writers: numbers, spreads, tables, skips."""

def number(value, digits=1):
    if value is None:
        return "n/a"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if 0 < abs(value) < 1 and digits < 3:
        return f"{value:.3g}"
    return f"{value:.{digits}f}"


def spread(summary, digits=1):
    if not summary:
        return "n/a"
    return f"{number(summary['min'], digits)} to {number(summary['max'], digits)}"


def iqr(summary, digits=1):
    if not summary:
        return "n/a"
    return f"{number(summary['q1'], digits)} to {number(summary['q3'], digits)}"


def median(summary):
    return summary["median"] if summary else None


def ratio_text(value):
    # Three decimals, so a ratio just under a target (1.498x) does not print as 1.50x.
    return "n/a" if value is None else f"{value:.3f}x"


def met(value, passed):
    if value is None:
        return "not measured"
    return "met" if passed else "**not met**"


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


NOT_SELECTED = {"status": "skipped", "reason": "section not selected"}


def selected_section(results, name):
    return results["sections"].get(name, NOT_SELECTED)


def skip_line(section):
    return f"Not measured ({section['status']}): {section.get('reason', 'no reason recorded')}"


def median_rate(contenders, name):
    result = contenders.get(name, {})
    return median(result.get("images_per_s")) if result.get("status") == "ok" else None
