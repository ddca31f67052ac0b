"""The one exception the data layer raises: its message names the file and the problem."""


class DataError(ValueError):
    """Input data cannot be used: missing file, wrong columns, bad values, or an empty split."""
