"""Webhook intake (being written): verified, deduplicated, handed to workflows by signal."""

from fastapi import APIRouter

router = APIRouter()
