from recipes.main import alias; alias(__name__, "ds")  # noqa: E702, I001  # fmt: skip
