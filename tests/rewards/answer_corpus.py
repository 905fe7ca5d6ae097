"""A corpus of (gold, response, expected) answer pairs for the math reward, written for this project.

Each entry is a gold answer as datasets store it (MATH/DeepScaleR LaTeX without delimiters, plain-text numbers,
delimited LaTeX), a response ending the way models end theirs (boxed, several boxes, an unboxed final statement, a
bare number), and the verdict a careful human grader gives. Classes: ``boxed``, ``unboxed``, ``several_boxes``,
``final_statement`` (intermediate boxes, then the final answer unboxed), ``percent``, ``units``, ``intervals``,
``sets``, ``text``, ``thousands``, ``plain_gold`` (plain-text golds), ``expressions``, ``matrices``, ``equations``.

``python tests/rewards/answer_corpus.py`` rewrites ``answer_corpus.jsonl`` next to it (the file the benchmark
``scripts/bench/bench_reward.py`` and the tests read); edit the lists here, not the JSON file.
"""

from __future__ import annotations

import json
from pathlib import Path

CORPUS_PATH = Path(__file__).with_name("answer_corpus.jsonl")

# reasoning that precedes the final answer, of three lengths (responses are cycled through them)
_STEP = (
    "We first rewrite the condition as $a_{n+1} - a_n = 2n + 1$, so $a_n = n^2 + c$ for a constant $c$. "
    "Checking $n = 1$ gives $c = 0$, and the bound $\\frac{a_n}{n} \\le n + 1$ holds for every $n \\ge 1$. "
)
PREFIXES = ("", _STEP * 2, _STEP * 14)

# (class, gold, answer ending of the response, expected verdict)
PAIRS: list[tuple[str, str, str, int]] = [
    # --- boxed: one final box, MATH-style LaTeX golds
    ("boxed", "\\frac{1}{2}", "So the answer is $\\boxed{\\frac12}$.", 1),
    ("boxed", "\\frac{1}{2}", "Therefore $\\boxed{0.5}$.", 1),
    ("boxed", "\\frac{1}{2}", "Therefore $\\boxed{\\frac{1}{3}}$.", 0),
    ("boxed", "\\frac{3}{4}", "\\[\\boxed{\\dfrac{3}{4}}\\]", 1),
    ("boxed", "3/4", "The result is \\boxed{\\tfrac34}.", 1),
    ("boxed", "42", "Hence the count is \\boxed{42}.", 1),
    ("boxed", "42", "Hence the count is \\boxed{41}.", 0),
    ("boxed", "-7", "The minimum is $\\boxed{-7}$.", 1),
    ("boxed", "-7", "The minimum is $\\boxed{7}$.", 0),
    ("boxed", "2\\sqrt{3}", "Thus $AB = \\boxed{\\sqrt{12}}$.", 1),
    ("boxed", "2\\sqrt{3}", "Thus $AB = \\boxed{3\\sqrt{2}}$.", 0),
    ("boxed", "\\frac{\\sqrt{3}}{2}", "So $\\sin 60^\\circ = \\boxed{\\frac{\\sqrt3}{2}}$.", 1),
    ("boxed", "\\frac{\\sqrt{2}}{2}", "We get $\\boxed{\\frac{1}{\\sqrt{2}}}$.", 1),
    ("boxed", "\\frac{\\pi}{4}", "The angle is $\\boxed{\\frac{\\pi}{4}}$.", 1),
    ("boxed", "\\frac{\\pi}{4}", "The angle is $\\boxed{\\frac{\\pi}{2}}$.", 0),
    ("boxed", "2\\pi", "The circumference is $\\boxed{2 \\pi}$.", 1),
    ("boxed", "\\pi", "So the area is $\\boxed{3.14}$.", 0),
    ("boxed", "3", "The answer is $\\boxed{\\log_2 8}$.", 1),
    ("boxed", "1000", "We obtain $\\boxed{10^{3}}$.", 1),
    ("boxed", "10^{4}", "We obtain $\\boxed{10^{3}}$.", 0),
    ("boxed", "x^2+2x+1", "Expanding, $\\boxed{(x+1)^2}$.", 1),
    ("boxed", "x^2+2x+1", "Expanding, $\\boxed{x^2+1}$.", 0),
    ("boxed", "2x+1", "So $f(x) = \\boxed{1+2x}$.", 1),
    ("boxed", "\\frac{-1}{3}", "Finally $\\boxed{-\\frac{1}{3}}$.", 1),
    ("boxed", "5", "The solution is $\\boxed{x=5}$.", 1),
    ("boxed", "5", "The solution is $\\boxed{x=6}$.", 0),
    ("boxed", "12", "\\fbox{12}", 1),
    ("boxed", "7", "$\\boxed{\\boxed{7}}$", 1),
    ("boxed", "0.6", "so $\\boxed{\\frac{2}{3}}$", 0),
    ("boxed", "\\sqrt{2}", "the length is $\\boxed{1.41}$", 0),
    ("boxed", "\\dfrac{9}{7}", "Thus the ratio is $\\boxed{\\frac{9}{7}}$.", 1),
    ("boxed", "\\frac{7}{2}", "We conclude $\\boxed{3.5}$.", 1),
    ("boxed", "-\\frac{5}{2}", "We conclude $\\boxed{-2.5}$.", 1),
    ("boxed", "\\sqrt{5}", "We conclude $\\boxed{\\sqrt{5}}$ is the distance.", 1),
    ("boxed", "6", "First guess $\\boxed{5}$ fails the check, so after recomputing the sum we find $\\boxed{6}$.", 1),
    ("boxed", "5", "First guess $\\boxed{5}$ fails the check, so after recomputing the sum we find $\\boxed{6}$.", 0),
    ("boxed", "\\$18.90", "The total cost is $\\boxed{\\$18.90}$.", 1),
    ("boxed", "18.90", "The total cost is $\\boxed{\\$18.90}$.", 1),
    ("boxed", "\\text{(C)}", "The correct option is $\\boxed{\\text{(C)}}$.", 1),
    ("boxed", "\\text{(C)}", "The correct option is $\\boxed{\\text{(D)}}$.", 0),
    # --- unboxed: no box at all, the final answer stated in words, LaTeX or a bare number
    ("unboxed", "42", "Therefore the answer is 42.", 1),
    ("unboxed", "42", "Therefore the answer is 24.", 0),
    ("unboxed", "\\frac{7}{2}", "The final answer is $\\frac{7}{2}$.", 1),
    ("unboxed", "3.5", "The final answer is $\\frac{7}{2}$.", 1),
    ("unboxed", "3.5", "The final answer is $\\frac{5}{2}$.", 0),
    ("unboxed", "\\frac{1}{4}", "Final Answer: The final answer is $\\frac{1}{4}$. I hope it is correct.", 1),
    ("unboxed", "\\frac{1}{4}", "Final Answer: The final answer is $\\frac{1}{5}$. I hope it is correct.", 0),
    ("unboxed", "17", "**Answer:** 17", 1),
    ("unboxed", "17", "**Answer:** 71", 0),
    ("unboxed", "-3", "So $x = -3$.", 1),
    ("unboxed", "9", "Adding them up: $4 + 5 = 9$.", 1),
    ("unboxed", "2\\sqrt{2}", "Hence the answer: $\\sqrt{8}$.", 1),
    ("unboxed", "\\frac{1}{6}", "The probability is $\\frac{1}{6}$.", 1),
    ("unboxed", "\\frac{1}{6}", "The probability is $\\frac{1}{36}$.", 0),
    ("unboxed", "256", "so there are 256 ways.", 1),
    ("unboxed", "256", "so there are 128 ways.", 0),
    ("unboxed", "0.25", "The answer is .25", 1),
    ("unboxed", "\\frac{4}{3}", "Final answer: 4/3", 1),
    # --- several boxes forming one answer
    ("several_boxes", "1,2,3", "The roots are \\boxed{1} and \\boxed{2} and \\boxed{3}.", 1),
    ("several_boxes", "\\{1,2,3\\}", "The roots are \\boxed{1}, \\boxed{2}, \\boxed{3}.", 1),
    ("several_boxes", "1,2,3", "The roots are \\boxed{1} and \\boxed{2}.", 0),
    ("several_boxes", "1,2,3", "The roots are \\boxed{1}, \\boxed{2}, \\boxed{4}.", 0),
    ("several_boxes", "-2, 1", "so \\[ \\boxed{-2} \\quad \\text{and} \\quad \\boxed{1}. \\]", 1),
    ("several_boxes", "1, -2", "so \\[ \\boxed{-2} \\quad \\text{and} \\quad \\boxed{1}. \\]", 1),
    ("several_boxes", "-2, 1", "so \\[ \\boxed{-2} \\quad \\text{and} \\quad \\boxed{2}. \\]", 0),
    ("several_boxes", "(2, 2), (6, 2)", "$$\\boxed{(2, 2)} \\quad \\text{and} \\quad \\boxed{(6, 2)}$$", 1),
    ("several_boxes", "(2, 2), (6, 2)", "$$\\boxed{(2, 2)} \\quad \\text{and} \\quad \\boxed{(2, 6)}$$", 0),
    ("several_boxes", "(1,2),(2,1)", "The pairs are $\\boxed{(1, 2)}, \\boxed{(2, 1)}$.", 1),
    ("several_boxes", "3, 5", "Both work: $x = \\boxed{3}$ or $x = \\boxed{5}$.", 1),
    ("several_boxes", "3, 5", "Both work: $x = \\boxed{3}$ or $x = \\boxed{6}$.", 0),
    ("several_boxes", "k = 45, n = 2", "$$\\boxed{k = 45} \\quad \\text{and} \\quad \\boxed{n = 2}$$", 1),
    ("several_boxes", "k = 45, n = 2", "$$\\boxed{k = 45} \\quad \\text{and} \\quad \\boxed{n = 3}$$", 0),
    ("several_boxes", "\\pm 2", "$x = \\boxed{2}$ or $x = \\boxed{-2}$", 1),
    ("several_boxes", "0, 4", "The zeros are $\\boxed{0}$ and $\\boxed{4}$.", 1),
    ("several_boxes", "0, 4", "The zeros are $\\boxed{0}$ and $\\boxed{-4}$.", 0),
    ("several_boxes", "2", "Check: $\\boxed{2}$ and again $\\boxed{2}$.", 1),
    # --- intermediate boxes, then the final answer stated unboxed
    (
        "final_statement",
        "10455",
        "Interest on the first CD is $\\boxed{200}$, so she has $10,200. On the second CD the interest is "
        "$\\boxed{255}$, so she ends with $10,455. The final answer is $10,455$.",
        1,
    ),
    (
        "final_statement",
        "10455",
        "Interest on the first CD is $\\boxed{200}$, on the second $\\boxed{255}$. "
        "Final Answer: The final answer is $10,455$. I hope it is correct.",
        1,
    ),
    (
        "final_statement",
        "255",
        "Interest on the first CD is $\\boxed{200}$, on the second $\\boxed{255}$. The final answer is $10,455$.",
        0,
    ),
    (
        "final_statement",
        "24",
        "Step one gives $\\boxed{6}$ pairs, step two $\\boxed{4}$ each. The final answer is 24.",
        1,
    ),
    (
        "final_statement",
        "4",
        "Step one gives $\\boxed{6}$ pairs, step two $\\boxed{4}$ each. The final answer is 24.",
        0,
    ),
    (
        "final_statement",
        "\\frac{3}{8}",
        "The first draw gives $\\boxed{\\frac{1}{2}}$, the second $\\boxed{\\frac{3}{4}}$. "
        "Multiplying, the final answer is $\\frac{3}{8}$.",
        1,
    ),
    (
        "final_statement",
        "\\frac{3}{4}",
        "The first draw gives $\\boxed{\\frac{1}{2}}$, the second $\\boxed{\\frac{3}{4}}$. "
        "Multiplying, the final answer is $\\frac{3}{8}$.",
        0,
    ),
    ("final_statement", "13", "Lemma: $\\boxed{12}$ is even. So the final answer is $13$.", 1),
    ("final_statement", "120", "We found $\\boxed{5!}$ orderings per block; the final answer is $120$.", 1),
    ("final_statement", "12", "The final answer is $\\boxed{12}$. This is 3 more than last year.", 1),
    ("final_statement", "3", "The final answer is $\\boxed{12}$. This is 3 more than last year.", 0),
    ("final_statement", "8", "So $\\boxed{8}$. Note that the answer is 2 more than the first guess.", 1),
    ("final_statement", "7", "The final answer is $5$. Wait, I made an error; correcting it gives $\\boxed{7}$.", 1),
    ("final_statement", "5", "The final answer is $5$. Wait, I made an error; correcting it gives $\\boxed{7}$.", 0),
    # --- percent
    ("percent", "28\\%", "The loss is $28$ %.", 1),
    ("percent", "28\\%", "The loss is 28 percent.", 1),
    ("percent", "28\\%", "So the percent loss is $\\boxed{28}$.", 1),
    ("percent", "28\\%", "So the percent loss is $\\boxed{28\\%}$.", 1),
    ("percent", "28\\%", "So the percent loss is $\\boxed{27\\%}$.", 0),
    ("percent", "28\\%", "The final answer is $28\\%$.", 1),
    ("percent", "28\\%", "The final answer is $72\\%$.", 0),
    ("percent", "25\\%", "Thus $\\boxed{25 \\%}$.", 1),
    ("percent", "25\\%", "Thus \\boxed{25%}.", 1),
    ("percent", "25\\%", "Thus \\boxed{25\\text{ percent}}.", 1),
    ("percent", "25\\%", "Thus \\boxed{0.25}.", 1),
    ("percent", "25\\%", "Thus \\boxed{52\\%}.", 0),
    ("percent", "25\\%", "Thus \\boxed{2.5\\%}.", 0),
    ("percent", "20", "The percentage is $\\boxed{20 \\%}$.", 1),
    ("percent", "20", "The percentage is $\\boxed{20\\%}$.", 1),
    ("percent", "20", "The percentage is $\\boxed{30\\%}$.", 0),
    ("percent", "20", "so $x=1/5$, or $\\boxed{20}$ percent.", 1),
    ("percent", "12.5\\%", "The discount is $\\boxed{12.5\\%}$.", 1),
    ("percent", "12.5\\%", "The discount is $\\boxed{12.5}$.", 1),
    ("percent", "12.5\\%", "The discount is $\\boxed{15\\%}$.", 0),
    ("percent", "40%", "So $\\boxed{40\\%}$ of the students.", 1),
    ("percent", "40%", "So $\\boxed{45\\%}$ of the students.", 0),
    ("percent", "$50\\%$", "The probability is $\\boxed{50\\%}$.", 1),
    ("percent", "$50\\%$", "The probability is 50%.", 1),
    ("percent", "$50\\%$", "The probability is 40%.", 0),
    ("percent", "15", "The increase is 15%.", 1),
    # --- units
    ("units", "5", "The side is $\\boxed{5 \\text{ cm}}$.", 1),
    ("units", "5", "The side is $\\boxed{6 \\text{ cm}}$.", 0),
    ("units", "90^\\circ", "The angle is $\\boxed{90^\\circ}$.", 1),
    ("units", "90", "The angle is $\\boxed{90^\\circ}$.", 1),
    ("units", "45^{\\circ}", "The angle is $\\boxed{45^\\circ}$.", 1),
    ("units", "90", "The angle is $\\boxed{89^\\circ}$.", 0),
    ("units", "12", "The perimeter is $\\boxed{12\\text{ meters}}$.", 1),
    ("units", "12", "The perimeter is $\\boxed{12\\,\\text{m}}$.", 1),
    ("units", "36", "Its area is $\\boxed{36 \\text{ square units}}$.", 1),
    ("units", "36", "Its area is $\\boxed{63 \\text{ square units}}$.", 0),
    ("units", "8", "It takes $\\boxed{8 \\text{ hours}}$.", 1),
    ("units", "150", "The speed is 150 km/h, so the answer is $\\boxed{150}$.", 1),
    ("units", "7.5", "Each costs $\\boxed{\\$7.50}$.", 1),
    ("units", "7.5", "Each costs $\\boxed{\\$5.70}$.", 0),
    ("units", "3", "There are $\\boxed{3}$ apples left.", 1),
    # --- intervals
    ("intervals", "(1, 2]", "The solution set is $\\boxed{(1,2]}$.", 1),
    ("intervals", "(1, 2]", "The solution set is $\\boxed{[1,2]}$.", 0),
    ("intervals", "(1, 2]", "The solution set is $\\boxed{(1,2)}$.", 0),
    ("intervals", "[0, \\infty)", "Thus $x \\in \\boxed{[0, \\infty)}$.", 1),
    ("intervals", "[0,\\infty)", "Thus $\\boxed{x \\ge 0}$.", 1),
    ("intervals", "(-\\infty, 3)", "So $\\boxed{x \\in (-\\infty, 3)}$.", 1),
    ("intervals", "(-\\infty, 3)", "So $\\boxed{(-\\infty, 3]}$.", 0),
    ("intervals", "(-\\infty,-2)\\cup(2,\\infty)", "so $\\boxed{(-\\infty, -2) \\cup (2, \\infty)}$", 1),
    ("intervals", "(-\\infty,-2)\\cup(2,\\infty)", "so $\\boxed{(-2, 2)}$", 0),
    ("intervals", "[-1, 1]", "The range is $\\boxed{[-1,1]}$.", 1),
    ("intervals", "[-1, 1]", "The range is $\\boxed{[-1,1)}$.", 0),
    ("intervals", "(0, 1)", "The answer is the interval $(0,1)$.", 1),
    ("intervals", "\\left( -\\frac{1}{2}, 3 \\right)", "So $\\boxed{(-0.5, 3)}$.", 1),
    # --- sets, tuples, lists
    ("sets", "\\{1, 2, 3\\}", "The set is $\\boxed{\\{3,2,1\\}}$.", 1),
    ("sets", "\\{1, 2, 3\\}", "The set is $\\boxed{\\{1,2\\}}$.", 0),
    ("sets", "(2, -1)", "The point is $\\boxed{(2,-1)}$.", 1),
    ("sets", "(2, -1)", "The point is $\\boxed{(-1, 2)}$.", 0),
    ("sets", "(1,2)", "The point is $\\boxed{(2, 1)}$.", 0),
    ("sets", "3, 5", "The solutions are $\\boxed{3, 5}$.", 1),
    ("sets", "3, 5", "The solutions are $\\boxed{5, 3}$.", 1),
    ("sets", "3,5", "The solutions are $\\boxed{3, 5}$.", 1),
    ("sets", "3, 5", "The solutions are $\\boxed{3, 6}$.", 0),
    ("sets", "-2,1", "The roots are $\\boxed{-2, 1}$.", 1),
    ("sets", "-2,1", "The roots are $\\boxed{-2.1}$.", 1),
    ("sets", "1,2,3", "so $\\boxed{1, 2, 3}$", 1),
    ("sets", "1,2,3", "so $\\boxed{1, 2}$", 0),
    ("sets", "\\left( \\frac{1}{2}, 3 \\right)", "so $\\boxed{(\\frac12, 3)}$", 1),
    ("sets", "(0, 0, 1)", "The vector is $\\boxed{(0, 0, 1)}$.", 1),
    ("sets", "(0, 0, 1)", "The vector is $\\boxed{(0, 1, 0)}$.", 0),
    # --- text answers
    ("text", "\\text{Monday}", "It falls on a $\\boxed{\\text{Monday}}$.", 1),
    ("text", "Monday", "It falls on a $\\boxed{\\text{Monday}}$.", 1),
    ("text", "\\text{Monday}", "It falls on a $\\boxed{\\text{Tuesday}}$.", 0),
    ("text", "\\text{odd}", "The function is $\\boxed{\\text{odd}}$.", 1),
    ("text", "\\text{odd}", "The function is $\\boxed{\\text{even}}$.", 0),
    ("text", "\\text{(A)}", "So the answer is $\\boxed{\\text{(A)}}$.", 1),
    ("text", "\\text{(A)}", "So the answer is $\\boxed{\\text{(B)}}$.", 0),
    ("text", "\\text{yes}", "Hence $\\boxed{\\text{yes}}$.", 1),
    ("text", "\\text{no}", "Hence $\\boxed{\\text{yes}}$.", 0),
    # --- thousands separators
    ("thousands", "1000", "The sum is $\\boxed{1,000}$.", 1),
    ("thousands", "1000", "The sum is $\\boxed{1\\,000}$.", 1),
    ("thousands", "1000", "The sum is $\\boxed{1 000}$.", 1),
    ("thousands", "1000", "The sum is $\\boxed{10{,}000}$.", 0),
    ("thousands", "10000", "The sum is $\\boxed{10{,}000}$.", 1),
    ("thousands", "1,000", "The sum is $\\boxed{1000}$.", 1),
    ("thousands", "1,000", "The sum is $\\boxed{100}$.", 0),
    ("thousands", "7425000", "The population is 7,425,000.", 1),
    ("thousands", "7425000", "The population is $\\boxed{7,425,000}$.", 1),
    ("thousands", "7425000", "The population is $\\boxed{742,500}$.", 0),
    ("thousands", "10,\\!000", "That is $\\boxed{10000}$ tiles.", 1),
    ("thousands", "10,\\!000", "That is $\\boxed{1000}$ tiles.", 0),
    ("thousands", "1000.99", "The balance is $1,000.99.", 1),
    ("thousands", "1,234,567", "$\\boxed{1234567}$", 1),
    ("thousands", "1,234,567", "$\\boxed{1234576}$", 0),
    # --- plain-text golds (numbers as plain text, decimal commas, spaces)
    ("plain_gold", "1 000", "The sum is $\\boxed{1000}$.", 1),
    ("plain_gold", "1 000", "The sum is $\\boxed{0}$.", 0),
    ("plain_gold", "1000,99", "The balance is $\\boxed{1000.99}$.", 1),
    ("plain_gold", "1000,99", "The balance is $\\boxed{1000}$.", 0),
    ("plain_gold", "1,22", "The ratio is 1.22.", 1),
    ("plain_gold", "1,22", "The ratio is $\\boxed{1.22}$.", 1),
    ("plain_gold", "1,22", "The ratio is $\\boxed{1.2}$.", 0),
    ("plain_gold", "2,74", "Soucis : 2,74 $ a..", 1),
    ("plain_gold", "0.4", "The probability is .4", 1),
    ("plain_gold", "5", "The answer is 5.", 1),
    ("plain_gold", "5", "$\\boxed{5.0}$", 1),
    ("plain_gold", "5", "$\\boxed{0.5}$", 0),
    ("plain_gold", "$3$", "$\\boxed{3}$", 1),
    ("plain_gold", "$3$", "$\\boxed{4}$", 0),
    ("plain_gold", "\\boxed{\\frac{1}{2}}", "so $\\boxed{\\frac{1}{2}}$", 1),
    ("plain_gold", "\\boxed{\\frac{1}{2}}", "so $\\boxed{\\frac{1}{4}}$", 0),
    ("plain_gold", "$\\frac{3}{5}$", "We get $\\boxed{0.6}$.", 1),
    ("plain_gold", "-12", "so $\\boxed{-12}$", 1),
    ("plain_gold", "-12", "so $\\boxed{12}$", 0),
    ("plain_gold", "0.125", "so $\\boxed{\\frac18}$", 1),
    # --- expressions and radicals
    ("expressions", "\\frac{1}{\\sqrt{2}}", "$\\boxed{\\frac{\\sqrt{2}}{2}}$", 1),
    ("expressions", "3\\sqrt{5}", "$\\boxed{\\sqrt{45}}$", 1),
    ("expressions", "3\\sqrt{5}", "$\\boxed{5\\sqrt{3}}$", 0),
    ("expressions", "x^3 - 3x + 2", "$f(x) = \\boxed{(x-1)^2(x+2)}$", 1),
    ("expressions", "x^3 - 3x + 2", "$f(x) = \\boxed{(x-1)(x+2)}$", 0),
    ("expressions", "\\frac{a+b}{2}", "$\\boxed{\\frac{b+a}{2}}$", 1),
    ("expressions", "\\frac{a+b}{2}", "$\\boxed{\\frac{a-b}{2}}$", 0),
    ("expressions", "e^{2}", "$\\boxed{e^2}$", 1),
    ("expressions", "\\ln 2", "$\\boxed{\\ln(2)}$", 1),
    ("expressions", "4 + 3i", "$z = \\boxed{3i + 4}$", 1),
    ("expressions", "4 + 3i", "$z = \\boxed{4 - 3i}$", 0),
    ("expressions", "\\binom{10}{3}", "$\\boxed{120}$", 1),
    ("expressions", "5!", "$\\boxed{120}$", 1),
    ("expressions", "\\frac{1}{3}", "$\\boxed{0.333333}$", 1),
    ("expressions", "\\frac{1}{3}", "$\\boxed{0.33}$", 0),
    ("expressions", "2^{10}", "$\\boxed{1024}$", 1),
    ("expressions", "\\sqrt[3]{2}", "$\\boxed{2^{1/3}}$", 1),
    ("expressions", "\\frac{\\sqrt{6}-\\sqrt{2}}{4}", "$\\boxed{\\sin 15^\\circ}$", 1),
    ("expressions", "\\infty", "$\\boxed{\\infty}$", 1),
    ("expressions", "-\\infty", "$\\boxed{\\infty}$", 0),
    # --- matrices and vectors
    ("matrices", "\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}", "$\\boxed{\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}}$", 1),
    ("matrices", "\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}", "$\\boxed{\\begin{pmatrix} 2 \\\\ 1 \\end{pmatrix}}$", 0),
    (
        "matrices",
        "\\begin{pmatrix} 1 & 0 \\\\ 0 & 1 \\end{pmatrix}",
        "$\\boxed{\\begin{pmatrix} 1 & 0 \\\\ 0 & 1 \\end{pmatrix}}$",
        1,
    ),
    (
        "matrices",
        "\\begin{pmatrix} 1 & 0 \\\\ 0 & 1 \\end{pmatrix}",
        "$\\boxed{\\begin{pmatrix} 0 & 1 \\\\ 1 & 0 \\end{pmatrix}}$",
        0,
    ),
    (
        "matrices",
        "\\begin{pmatrix} 1/2 \\\\ -1 \\end{pmatrix}",
        "$\\boxed{\\begin{pmatrix} 0.5 \\\\ -1 \\end{pmatrix}}$",
        1,
    ),
    # --- equations and relations
    ("equations", "y = 2x + 3", "The line is $\\boxed{y = 2x + 3}$.", 1),
    ("equations", "y = 2x + 3", "The line is $\\boxed{y = 3x + 2}$.", 0),
    ("equations", "y = 2x + 3", "The line is $\\boxed{2x + 3}$.", 1),
    ("equations", "x^2 + y^2 = 25", "The circle is $\\boxed{x^2 + y^2 = 25}$.", 1),
    ("equations", "x^2 + y^2 = 25", "The circle is $\\boxed{x^2 + y^2 = 5}$.", 0),
    ("equations", "x > 3", "so $\\boxed{x > 3}$", 1),
    ("equations", "x > 3", "so $\\boxed{x \\ge 3}$", 0),
    ("equations", "3", "$\\boxed{n = 3}$", 1),
    ("equations", "3", "$\\boxed{n = 4}$", 0),
]


def build_records() -> list[dict[str, object]]:
    """One record per pair; the response is a reasoning prefix (cycled over three lengths) plus the ending."""
    records = []
    for i, (kind, gold, ending, expected) in enumerate(PAIRS):
        prefix = PREFIXES[i % len(PREFIXES)]
        records.append({"id": i, "class": kind, "gold": gold, "response": prefix + ending, "expected": expected})
    return records


def load_corpus(path: Path = CORPUS_PATH) -> list[dict[str, object]]:
    """The committed corpus (JSON lines with id, class, gold, response, expected); clear error on a bad row."""
    records = []
    with path.open(encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, 1):
            if not line.strip():
                continue
            row = json.loads(line)
            missing = {"class", "gold", "response", "expected"} - set(row)
            if missing or row["expected"] not in (0, 1):
                raise ValueError(f"{path}:{line_no}: needs class, gold, response and expected in {{0, 1}}; got {row}")
            records.append(row)
    return records


if __name__ == "__main__":
    rows = build_records()
    with CORPUS_PATH.open("w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"wrote {len(rows)} pairs to {CORPUS_PATH}")
