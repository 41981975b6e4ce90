-- A small workflow for the engine's own tests: registration, triage,
-- assignment with approval, verification, report, review with return,
-- closure, merge, and a guarded transition.
return {
  name = "test_flow",
  title = "测试流程",
  initial = "NEW",
  id_format = "T-{year}-{seq:4}",
  create = {"registrar", "liaison"},
  roles = {
    {name = "registrar", label = "登记员"},
    {name = "triage", label = "研判员"},
    {name = "director", label = "主任"},
    {name = "liaison", label = "联络员"},
    {name = "verifier", label = "核查人"},
    {name = "inspector", label = "督导员"},
  },
  secret_roles = {"registrar", "director"},
  fields = {
    {name = "source", label = "线索来源", type = "enum",
     values = {"群众举报", "部门移送"}, clear = true, required = true},
    {name = "summary", label = "主要问题", type = "text", required = true},
    {name = "reporter", label = "举报人信息", type = "text", secret = true},
    {name = "handling_unit", label = "承办单位", type = "text", clear = true},
    {name = "due_at", label = "核查期限", type = "date", clear = true},
    {name = "finding", label = "核查结论", type = "enum",
     values = {"查实", "部分查实", "查否"}, clear = true},
    {name = "detail", label = "核查情况", type = "text"},
    {name = "master_lead", label = "主线索", type = "text", clear = true},
    {name = "amount", label = "涉案金额", type = "number"},
  },
  states = {
    {name = "NEW", label = "已登记", limit = {workdays = 3}},
    {name = "TRIAGE", label = "研判中", limit = {workdays = 3}},
    {name = "ASSIGNED", label = "已交办"},
    {name = "VERIFYING", label = "核查中"},
    {name = "REPORTED", label = "已报告", limit = {workdays = 5}},
    {name = "CLOSED", label = "已办结", terminal = true, cleared = true},
    {name = "MERGED", label = "已合并", terminal = true, cleared = true},
  },
  transitions = {
    {name = "triage", label = "领取研判", from = "NEW", to = "TRIAGE",
     roles = {"triage"}},
    {name = "assign", label = "交办", from = "TRIAGE", to = "ASSIGNED",
     roles = {"triage"}, approval = "director",
     require = {"handling_unit", "due_at"}, assign = "handling_unit",
     due = "due_at"},
    {name = "stall", label = "死循环守卫", from = "TRIAGE", to = "ASSIGNED",
     roles = {"triage"}, guard = function(lead, ctx)
       while true do end
     end},
    {name = "merge", label = "合并", from = "TRIAGE", to = "MERGED",
     roles = {"triage"}, require = {"master_lead"}, merge = "master_lead"},
    {name = "accept", label = "签收", from = "ASSIGNED", to = "VERIFYING",
     roles = {"liaison"}},
    {name = "progress", label = "进展回告", from = "VERIFYING",
     to = "VERIFYING", roles = {"verifier"}},
    {name = "report", label = "报送核查报告", from = "VERIFYING",
     to = "REPORTED", roles = {"verifier"}, require = {"finding", "detail"},
     guard = function(lead, ctx)
       if lead.fields.finding == "查实" and not lead.fields.amount then
         return false, "查实 needs 涉案金额"
       end
       return true
     end},
    {name = "return_report", label = "退回补查", from = "REPORTED",
     to = "VERIFYING", roles = {"director"}},
    {name = "approve_report", label = "审核通过", from = "REPORTED",
     to = "CLOSED", roles = {"director"}, distinct_from = {"report"}},
  },
}
