"""Datasets: the strict JSONL reader, RFT row rules, grader-vs-data checks, splits and the lint.

    jsonl.iter_jsonl(path)            -> (line, row) pairs; DataFileError at the first bad line
    jsonl.scan_jsonl(path)            -> (rows, errors), collecting errors for reports
    validate.validate_file(path)      -> rows that pass the RFT rules (D1, D2)
    refs.check_refs(grader, rows)     -> grader references that do not resolve (D3)
    split.split_rows(rows, seed=...)  -> (train, valid), deterministic (D4)
    lint.lint_files(train, valid, g)  -> LintReport

Import the submodule you need; this package imports nothing heavy (no torch, no numpy here).
"""
