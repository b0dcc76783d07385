from pydantic import BaseModel, ConfigDict

from botyard.core.timefmt import UTCTimestamp


class BotOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    object: str = "bot"
    id: str
    name: str
    description: str
    status: str
    created_at: UTCTimestamp
    updated_at: UTCTimestamp
