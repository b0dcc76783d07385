from fastapi import APIRouter

router = APIRouter(prefix="/v1/logs", tags=["request logs"])
