-- A valid workflow for the tests: guards that echo what they see, fail in
-- every way a guard can, and labels that need escaping in graphs.
return {
  name = "probe",
  title = "探针: \"流程\"",
  initial = "OPEN",
  roles = { { name = "clerk", label = "办事员" }, { name = "chief" } },
  secret_roles = { "chief" },
  fields = {
    { name = "x", label = "甲" },
    { name = "items", label = "条目", type = "list" },
    { name = "amount", label = "金额", type = "number" },
    { name = "code", label = "代码", clear = true },
    { name = "who", label = "举报人", secret = true, required = true },
    { name = "when", label = "日期", type = "date" },
    -- A label long enough that a refusal message must be cut.
    { name = "kind", label = string.rep("很长的标签", 10), type = "enum",
      values = { string.rep("甲", 40), string.rep("乙", 40) } },
    { name = "huge", label = "巨", type = "enum",
      values = { string.rep("丙", 66) } },
  },
  states = {
    { name = "OPEN", label = "开", limit = { days = 7 } },
    { name = "DONE", label = "完", terminal = true, cleared = true },
  },
  transitions = {
    { name = "echo", label = "回显", from = "OPEN", to = "DONE",
      roles = { "clerk" },
      guard = function(lead, ctx)
        return false, table.concat({
          lead.id, lead.state, lead.unit, lead.fields.x,
          tostring(#lead.fields.items), lead.fields.items[2], ctx.actor,
          ctx.actor_unit, ctx.roles[1], tostring(#ctx.roles), ctx.now,
          ctx.today, ctx.transition, ctx.to, tostring(lead.fields.missing),
        }, "|")
      end },
    { name = "boom", from = "OPEN", to = "DONE", roles = { "clerk" },
      guard = function(lead, ctx) error("boom") end },
    { name = "number", from = "OPEN", to = "DONE", roles = { "clerk" },
      guard = function() return 42 end },
    { name = "scribble", from = "OPEN", to = "DONE", roles = { "clerk" },
      guard = function(lead) lead.fields.x = "changed"; return true end },
    { name = "spin", from = "OPEN", to = "DONE", roles = { "clerk" },
      guard = function() while true do end end },
    { name = "silent", from = "OPEN", to = "DONE", roles = { "clerk" },
      guard = function() return false end },
    { name = "noisy", from = "OPEN", to = "DONE", roles = { "clerk" },
      guard = function() return false, "第一行\n\27[31m红" end },
    { name = "allow", from = "OPEN", to = "DONE", roles = { "clerk" },
      approval = "chief", due = "when", require = { "x" },
      distinct_from = { "echo", "plain" },
      guard = function(lead, ctx) return lead.fields.x == "ok" end },
    { name = "plain", label = "q\"uo\\te: a;b#c%<>{}[]|", from = { "OPEN", "DONE" },
      to = "DONE", roles = { "clerk", "chief" } },
  },
}
