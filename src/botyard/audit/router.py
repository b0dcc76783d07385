from fastapi import APIRouter

router = APIRouter(prefix="/v1/audit-log", tags=["audit log"])
