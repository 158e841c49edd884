"""Tables, figures and the written report, built only from files the pipeline wrote.

- :mod:`ifnd.report.collect` reads the results tree (run folders, evaluation metrics,
  reference rows) and checks each file it reads;
- :mod:`ifnd.report.tables` computes Tables 1-4 (``ifnd tables``);
- :mod:`ifnd.report.figures` draws Figures 1-6 (``ifnd figures``);
- :mod:`ifnd.report.claims` reads the paper's four claims from them; :mod:`ifnd.report.stats`
  (means, intervals, paired differences) and :mod:`ifnd.report.markdown` (formatting) serve all;
- :mod:`ifnd.report.report` writes ``results/report.md`` (``ifnd report``).

No number in a table, figure or the report is typed in: all come from these files.
"""
