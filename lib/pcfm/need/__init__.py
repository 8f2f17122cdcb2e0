"""Need weights: from each cell's predicted workload to practice need indices."""
