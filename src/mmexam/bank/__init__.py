"""The question bank: models, loading with line numbers, validation, parameters, stats.

from mmexam.bank import load_bank, check_bank
bank = load_bank(Path("question_bank"))      # Bank, or BankError naming the first problem
report = check_bank(Path("question_bank"))   # every problem, sorted, never raises
"""

from mmexam.bank.bank import Bank
from mmexam.bank.loader import check_bank, load_bank
from mmexam.bank.report import BankReport, Problem

__all__ = ["Bank", "BankReport", "Problem", "check_bank", "load_bank"]
