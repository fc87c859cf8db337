"""Local graders over a whole batch at once, a column at a time: the training loop's reward path.

grade        grade_columns: rows in, a GradeColumn out, exactly the per-row engine's grades
render       templates rendered a column at a time
scores       string_check and text_similarity scores of whole columns
"""

from openrft.graders.columns.grade import grade_columns, paused_gc, releases_gil

__all__ = ["grade_columns", "paused_gc", "releases_gil"]
