from recipes.main import alias; alias(__name__, "grpo")  # noqa: E702, I001  # fmt: skip
