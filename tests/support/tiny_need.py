"""Four practices in two PCNs with one QOF condition, for the need and inequality specs."""

from __future__ import annotations

QOF = [  # one condition, 4 practices of 1,000: registers 10, 30, 20, 40 -> 100 of 4,000 = 2.5%
    {"period": "2024-25", "practice_code": code, "group_code": "COPD", "register": reg,
     "list_type": "TOTAL", "list_size": 1000}
    for code, reg in [("A00001", 10), ("A00002", 30), ("A00003", 20), ("A00004", 40)]
]
PCN = [
    {"period": "2025-03", "practice_code": p, "practice_name": f"Practice {p[-1]}",
     "pcn_code": pcn, "pcn_name": f"PCN {pcn[-1]}", "sub_icb_code": "9A1", "icb_code": "QZ1"}
    for p, pcn in [("A00001", "U00001"), ("A00002", "U00001"), ("A00003", "U00002"),
                   ("A00004", "U00002")]
]
