--[[
Sorts a step's inbox into its pending set (see `ingest` in schedule.lua), for readers that ask whether one item
is pending (subjectStatus): the inbox is a list of commits, not searchable by item.
KEYS[1] pending   zset  item -> ready-at
KEYS[2] inbox     list  "<ready-at>\n<JSON array of items>": bare requests of commits, not yet in `pending`
KEYS[3] inboxed   string how many items the inbox holds
Returns how many items were new in `pending`.
]]
--!include schedule.lua
return ingest(KEYS[1], KEYS[2], KEYS[3])
