--[[
Sorts a step's inbox into its pending set and requests (see `ingest` in schedule.lua), for readers that ask about
one item (subjectStatus, and tests reading what capture left): the inbox is a list of commits, not searchable by item.
KEYS[1] pending   zset  item -> ready-at
KEYS[2] requests  hash  item -> request (flat JSON object of strings), merged while the item waits
KEYS[3] inbox     list  "<ready-at>\n<JSON array of bare items>[\n<JSON array of [item, request] pairs>]": requests
                        of commits, not yet in `pending` and `requests`
KEYS[4] inboxed   string how many items the inbox holds
Returns how many items were new in `pending`.
]]
--!include schedule.lua
return ingest(KEYS[1], KEYS[2], KEYS[3], KEYS[4])
