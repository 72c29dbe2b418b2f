"""Tests of the dev stack itself: it starts, answers, persists, stops and fails clearly."""
