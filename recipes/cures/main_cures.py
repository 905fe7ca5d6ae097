from recipes.main import alias; alias(__name__, "cures")  # noqa: E702, I001  # fmt: skip
