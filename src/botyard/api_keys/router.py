from fastapi import APIRouter

router = APIRouter(prefix="/v1/api-keys", tags=["api keys"])
