"""資格確認書: models arrive with their issue."""
