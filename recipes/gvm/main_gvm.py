from recipes.main import alias; alias(__name__, "gvm")  # noqa: E702, I001  # fmt: skip
