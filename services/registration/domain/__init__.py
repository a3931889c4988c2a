"""Registration's pure rules: who may take part, and what a company record holds. No I/O."""
