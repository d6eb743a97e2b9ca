"""Step-up challenges: did the user complete this challenge, for this user and action, once."""
