# Fuzzing (`make fuzz`), fault injection and the soak (`make soak`).
