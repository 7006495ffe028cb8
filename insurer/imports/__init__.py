"""What every import shares: decoding, Japanese cell widgets, all-or-nothing, reporting.

The resources in each app declare columns with these widgets; ``StrictModelResource``
makes an import all-or-nothing, checks the header (exactly the documented columns),
the shape of every row and every cell (length, control characters, a My Number where
none belongs), finds duplicate keys in the file and records which rows were skipped.
``import_problems`` turns a result into (line, column, reason) triples for the admin and
the ``import`` command alike. No message ever shows a run of twelve digits
(``shown``): at most the last four, as for a My Number.

- ``reading``: decoding and the CSV reader (whole file, or streamed in chunks);
- ``cells``: what a message may show of a cell, and the widgets;
- ``resource``: ``StrictModelResource`` (the header, the cells, the rows);
- ``set_based``: the set-based path (the ``import`` command and the admin's confirmation);
- ``problems``: (line, column, reason) in Japanese;
- ``storage``: the upload kept encrypted between preview and confirmation.
"""

from .cells import (
    EARLIEST_DATE,
    SHOWN_LENGTH,
    CodeWidget,
    DateWidget,
    DigitsWidget,
    FlagWidget,
    LookupWidget,
    RequiredTextWidget,
    TextWidget,
    YenWidget,
    cell_text,
    current_import_day,
    import_day,
    shown,
    years_after,
)
from .problems import (
    DATABASE_CONSTRAINT,
    DATABASE_REFUSED,
    ImportProblem,
    database_problem,
    import_problems,
)
from .reading import (
    CSV,
    DEFAULT_ENCODINGS,
    EXPORT_FORMATS,
    FORMATS_BY_NAME,
    FORMULA_STARTS,
    IMPORT_FORMATS,
    UNREADABLE,
    XLSX,
    CsvSource,
    DatasetSource,
    SafeExportMixin,
    decode_upload,
    escape_formula,
    read_csv,
)
from .resource import (
    CONTROL_CHARACTER,
    DUPLICATE_KEY,
    MAX_CELL_LENGTH,
    MISSING_COLUMNS,
    MY_NUMBER_ELSEWHERE,
    NO_HEADER,
    RAGGED_ROW,
    REPEATED_COLUMNS,
    TOO_LONG,
    UNKNOWN_COLUMNS,
    LeanResult,
    StrictModelResource,
    file_line,
)
from .set_based import PROGRESS_EVERY, SET_CHUNK, Progress, SetBasedImport
from .storage import EncryptedTempStorage

__all__ = [
    "CONTROL_CHARACTER",
    "CSV",
    "DATABASE_CONSTRAINT",
    "DATABASE_REFUSED",
    "DEFAULT_ENCODINGS",
    "DUPLICATE_KEY",
    "EARLIEST_DATE",
    "EXPORT_FORMATS",
    "FORMATS_BY_NAME",
    "FORMULA_STARTS",
    "IMPORT_FORMATS",
    "MAX_CELL_LENGTH",
    "MISSING_COLUMNS",
    "MY_NUMBER_ELSEWHERE",
    "NO_HEADER",
    "PROGRESS_EVERY",
    "RAGGED_ROW",
    "REPEATED_COLUMNS",
    "SET_CHUNK",
    "SHOWN_LENGTH",
    "TOO_LONG",
    "UNKNOWN_COLUMNS",
    "UNREADABLE",
    "XLSX",
    "CodeWidget",
    "CsvSource",
    "DatasetSource",
    "DateWidget",
    "DigitsWidget",
    "EncryptedTempStorage",
    "FlagWidget",
    "ImportProblem",
    "LeanResult",
    "LookupWidget",
    "Progress",
    "RequiredTextWidget",
    "SafeExportMixin",
    "SetBasedImport",
    "StrictModelResource",
    "TextWidget",
    "YenWidget",
    "cell_text",
    "current_import_day",
    "database_problem",
    "decode_upload",
    "escape_formula",
    "file_line",
    "import_day",
    "import_problems",
    "read_csv",
    "shown",
    "years_after",
]
