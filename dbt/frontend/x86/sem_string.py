"""String lifters: movs stos lods cmps scas with rep/repe/repne."""

LIFTERS = {}
