"""Export of a plan: workbook sheets (:mod:`.tables`), the xlsx writer (:mod:`.spreadsheet`) and PNG
plots (:mod:`.plots`). Import the submodules directly; this package imports nothing heavy."""
