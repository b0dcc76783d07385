from fastapi import APIRouter

from botyard.api_keys.deps import ReadKey
from botyard.bots import service
from botyard.bots.schemas import BotOut
from botyard.core.database import DBSession
from botyard.core.pagination import DEFAULT_LIMIT, ListResponse
from botyard.core.params import Cursor, Limit

router = APIRouter(prefix="/v1/bots", tags=["bots"])


@router.get("", summary="List bots")
async def list_bots(
    principal: ReadKey, session: DBSession, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
) -> ListResponse[BotOut]:
    bots, has_more, next_cursor = await service.list_bots(
        session, principal.organization_id, limit=limit, cursor=cursor
    )
    return ListResponse[BotOut](
        data=[BotOut.model_validate(b) for b in bots], has_more=has_more, next_cursor=next_cursor
    )
