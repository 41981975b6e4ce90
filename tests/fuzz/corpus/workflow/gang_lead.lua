-- 涉黑涉恶线索核查: the default lead-handling workflow of qingling.
--
-- It follows the procedure in docs/workflows.md: registration (登记),
-- triage (研判), assignment (交办) with a second signature by the
-- office director, acceptance (签收), verification with progress reports,
-- reporter contact, extensions (延期), urging (催办/督办), the report
-- (报送核查报告) signed by the unit head (签字背书), review with return
-- for more work (退回补查), transfer out (移送) with a receipt, parking
-- (暂存待查), merging duplicates (合并), feedback (办结反馈), closure, and
-- spot-checks (评查/回头看) that can send a closed lead back.
--
-- Time limits and lists are this county's defaults: copy the file, change
-- it, check it with `qingling workflow check FILE` and register it with
-- `qingling workflow add FILE` (see workflows/README.md).
--
-- Guards see the lead after the change (lead.id, lead.state, lead.unit,
-- lead.fields) and the context (ctx.actor, ctx.actor_unit, ctx.roles,
-- ctx.now, ctx.today, ctx.transition, ctx.to). They return true, or false
-- and a reason that the person acting reads.

-- Days since 1970-01-01 of a "YYYY-MM-DD" date (proleptic Gregorian), or
-- nil. The engine has checked date fields before a guard runs.
local function day_of(s)
  if type(s) ~= "string" or #s ~= 10 then
    return nil
  end
  local y = tonumber(string.sub(s, 1, 4))
  local m = tonumber(string.sub(s, 6, 7))
  local d = tonumber(string.sub(s, 9, 10))
  if not (y and m and d) then
    return nil
  end
  -- Count years from March so that the leap day ends the year.
  if m <= 2 then
    y = y - 1
  end
  local era = y // 400
  local yoe = y - era * 400
  local doy = (153 * ((m + 9) % 12) + 2) // 5 + d - 1
  local doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
  return era * 146097 + doe - 719468
end

-- Sources whose leads are answered to the body that sent them, even when
-- the reporter is anonymous (上级交办, 部门移送 ...).
local ANSWER_SOURCE = {
  ["上级交办"] = true,
  ["督导组转办"] = true,
  ["部门移送"] = true,
  ["巡视巡察移交"] = true,
  ["纪委监委移送"] = true,
}

-- True when someone waits for the result: a named reporter, an anonymous
-- one with a query code, or a sending body.
local function needs_feedback(lead)
  local f = lead.fields
  return f.named ~= "匿名" or ANSWER_SOURCE[f.source] == true
end

-- An inspector may not review a lead of their own unit (§5.1).
local function not_own_unit(lead, ctx)
  if ctx.actor_unit ~= nil and
     (ctx.actor_unit == lead.unit or
      ctx.actor_unit == lead.fields.handling_unit) then
    return false, "评查员不得评查本单位承办的线索（回避）"
  end
  return true
end

return {
  name = "gang_lead",
  title = "涉黑涉恶线索核查",
  initial = "REGISTERED",
  id_format = "QH-SH-{year}-{seq:3}",

  roles = {
    { name = "registrar", label = "登记员" },
    { name = "triage", label = "研判员" },
    { name = "director", label = "扫黑办主任" },
    { name = "liaison", label = "承办单位联络员" },
    { name = "verifier", label = "核查人" },
    { name = "head", label = "承办单位主要负责人" },
    { name = "inspector", label = "督导员/评查员" },
  },

  -- Only the office's registrar and director open the reporter envelope;
  -- a handling unit contacts the reporter through a grant (§4.1).
  secret_roles = { "registrar", "director" },
  -- T1: the 扫黑办 registrar, or a unit liaison for its own 摸排 leads.
  create = { "registrar", "liaison" },

  fields = {
    -- Registration (登记).
    { name = "ext_ref", label = "来源编号", type = "text", max = 200 },
    { name = "source", label = "线索来源", type = "enum", clear = true,
      required = true,
      values = { "群众举报", "12337平台下发", "上级交办", "督导组转办",
                 "部门移送", "巡视巡察移交", "纪委监委移送",
                 "自行发现(摸排)", "第二战场(监所检举揭发)",
                 "信访/热线转办", "办案深挖" } },
    { name = "received_at", label = "接收时间", type = "date", clear = true,
      required = true },
    { name = "channel", label = "接收方式", type = "enum", clear = true,
      required = true,
      values = { "来信", "来电", "来访", "网络", "平台", "函件" } },
    { name = "named", label = "举报方式", type = "enum", clear = true,
      required = true, values = { "实名", "匿名(有查询码)", "匿名" } },
    { name = "reporter", label = "举报人信息", type = "text", secret = true,
      max = 2000 },
    { name = "subjects", label = "被举报人/组织", type = "list",
      required = true },
    { name = "locality", label = "属地", type = "text", max = 200,
      required = true },
    { name = "industry", label = "涉及行业", type = "enum", clear = true,
      required = true,
      values = { "自然资源", "交通运输", "工程建设", "市场流通", "金融放贷",
                 "信息网络", "文化旅游", "卫生健康", "教育", "乡村治理",
                 "社会治安", "校园安全", "其他" } },
    { name = "summary", label = "主要问题", type = "text", max = 4000,
      required = true },

    -- Triage and assignment (研判, 交办).
    { name = "offence_types", label = "涉嫌问题类型", type = "list" },
    { name = "umbrella_flag", label = "涉伞", type = "enum",
      values = { "是", "否" } },
    { name = "umbrella_detail", label = "涉伞情况", type = "text" },
    { name = "priority", label = "督办级别", type = "enum", clear = true,
      values = { "一般", "重点督办", "挂牌督办" } },
    { name = "assign_no", label = "交办单号", type = "text", max = 100 },
    { name = "handling_unit", label = "承办单位", type = "text", clear = true,
      max = 32 },
    { name = "due_at", label = "核查期限", type = "date", clear = true },
    { name = "reassign_reason", label = "改派理由", type = "enum",
      values = { "非本单位管辖", "需回避" } },

    -- Transfer, parking, merging, declining (移送, 暂存, 合并, 不予受理).
    { name = "transfer_receiver", label = "移送接收单位", type = "text",
      max = 200 },
    { name = "transfer_reason", label = "移送理由", type = "enum",
      values = { "涉伞或涉公职人员(移送纪委监委)",
                 "明确涉嫌犯罪(移送公安机关)",
                 "行业乱象(移交行业主管部门)" } },
    { name = "letter_no", label = "移送函号", type = "text", max = 100 },
    { name = "receipt_at", label = "回执时间", type = "date", clear = true },
    { name = "receipt_by", label = "回执接收人", type = "text", max = 200 },
    { name = "park_reason", label = "暂存理由", type = "enum",
      values = { "无具体对象", "无可查事实", "匿名无法联系" } },
    { name = "review_date", label = "复核日期", type = "date", clear = true },
    { name = "review_note", label = "复核意见", type = "text" },
    { name = "master_lead", label = "主线索编号", type = "text", clear = true,
      max = 64 },
    { name = "decline_reason", label = "不予受理理由", type = "text" },
    { name = "decline_channel", label = "转其他渠道", type = "enum",
      values = { "信访", "诉讼", "12345热线", "行政复议", "其他" } },

    -- Verification (签收, 核查).
    { name = "verifiers", label = "核查人", type = "list", max = 1000 },
    { name = "progress_kind", label = "回告类型", type = "enum",
      values = { "首次回告", "进展回告", "末次回告" } },
    { name = "progress_note", label = "回告内容", type = "text" },
    { name = "contact_log", label = "联系举报人记录", type = "list" },
    { name = "extension_reason", label = "延期理由", type = "text" },
    { name = "extended_due", label = "延期至", type = "date", clear = true },
    { name = "urge_no", label = "催办单号", type = "text", max = 100 },
    { name = "supervise_no", label = "督办单号", type = "text", max = 100 },

    -- Report and review (报送, 审核).
    { name = "finding", label = "核查结论", type = "enum", clear = true,
      values = { "查实", "部分查实", "查否", "不属于涉黑涉恶" } },
    { name = "findings_detail", label = "核查情况", type = "text",
      max = 8000 },
    { name = "evidence", label = "证据清单", type = "list" },
    { name = "assets", label = "涉案财产情况", type = "text" },
    { name = "results", label = "处理结果", type = "list" },
    { name = "case_no", label = "立案文书号", type = "text", max = 100 },
    { name = "review_opinion", label = "审核意见", type = "text" },
    { name = "return_reason", label = "退回原因", type = "enum",
      values = { "事实不清", "证据不足", "未回应举报要点", "结论与事实不符",
                 "程序不规范" } },
    { name = "return_request", label = "补查要求", type = "text" },

    -- Feedback (办结反馈).
    { name = "feedback_target", label = "反馈对象", type = "enum",
      values = { "举报人", "移送部门", "上级机关" } },
    { name = "feedback_method", label = "反馈方式", type = "enum",
      values = { "电话", "短信", "当面", "书面", "查询码" } },
    { name = "feedback_opinion", label = "反馈意见", type = "enum",
      clear = true, values = { "满意", "基本满意", "不满意", "未表态" } },
    { name = "no_feedback_reason", label = "未反馈原因", type = "enum",
      values = { "无法联系(已联系3次以上)", "有碍核查" } },

    -- Spot-check (评查/回头看).
    { name = "spot_opinion_no", label = "评查意见书号", type = "text",
      max = 100 },
    { name = "spot_reason", label = "退回重查理由", type = "text" },
    { name = "redo_due", label = "重查期限", type = "date", clear = true },

    { name = "note", label = "备注", type = "text" },
  },

  -- Limits are the time allowed in each state; a transition with `due`
  -- sets the due date from a field instead (核查期限, 延期至, 重查期限).
  states = {
    { name = "REGISTERED", label = "已登记(待研判)", limit = { workdays = 1 } },
    { name = "UNDER_TRIAGE", label = "研判中", limit = { workdays = 3 } },
    { name = "ASSIGNED", label = "已交办(待签收)", limit = { workdays = 2 } },
    { name = "VERIFYING", label = "核查中" },
    { name = "REPORT_SUBMITTED", label = "核查报告已报(待审核)",
      limit = { workdays = 5 } },
    { name = "RETURNED", label = "退回补查/重查", limit = { workdays = 10 } },
    { name = "FEEDBACK_PENDING", label = "待反馈", limit = { workdays = 7 } },
    { name = "TRANSFERRED_OUT", label = "已移送(待回执)",
      limit = { workdays = 5 } },
    { name = "CLOSED", label = "已办结", terminal = true, cleared = true },
    -- Reached only with the director's approval and a re-review date at
    -- most 90 days ahead (guard of `park`), so it counts as cleared.
    { name = "PARKED", label = "暂存待查", cleared = true },
    { name = "MERGED", label = "已合并", terminal = true, cleared = true },
  },

  transitions = {
    -- T2
    { name = "triage", label = "领取研判", from = "REGISTERED",
      to = "UNDER_TRIAGE", roles = { "triage" } },

    -- T3: the triage officer proposes, the director approves.
    { name = "assign", label = "交办", from = "UNDER_TRIAGE", to = "ASSIGNED",
      roles = { "triage" }, approval = "director",
      require = { "handling_unit", "priority", "due_at", "assign_no",
                  "industry", "offence_types", "umbrella_flag" },
      assign = "handling_unit",
      guard = function(lead, ctx)
        local f = lead.fields
        if f.umbrella_flag == "是" and (f.letter_no == nil or
                                        f.letter_no == "") then
          return false, "涉伞线索须同时移送纪委监委：请先填写移送函号"
        end
        local due, today = day_of(f.due_at), day_of(ctx.today)
        if due == nil or today == nil or due <= today then
          return false, "核查期限须晚于今天"
        end
        if due > today + 90 then
          return false, "核查期限不得超过交办之日起90日"
        end
        return true
      end },

    -- T4
    { name = "transfer", label = "移送", from = "UNDER_TRIAGE",
      to = "TRANSFERRED_OUT", roles = { "triage" }, approval = "director",
      require = { "transfer_receiver", "transfer_reason", "letter_no" } },

    -- T5: parking needs a re-review date within 90 days.
    { name = "park", label = "暂存待查", from = "UNDER_TRIAGE", to = "PARKED",
      roles = { "triage" }, approval = "director",
      require = { "park_reason", "review_date" }, due = "review_date",
      guard = function(lead, ctx)
        local review, today = day_of(lead.fields.review_date),
                              day_of(ctx.today)
        if review == nil or today == nil or review <= today then
          return false, "复核日期须晚于今天"
        end
        if review > today + 90 then
          return false, "暂存待查的复核日期不得超过90日"
        end
        return true
      end },

    -- T6: the reporter feedback duty passes to the master lead.
    { name = "merge", label = "合并", from = "UNDER_TRIAGE", to = "MERGED",
      roles = { "triage" }, approval = "director",
      require = { "master_lead" }, merge = "master_lead",
      guard = function(lead, ctx)
        if lead.fields.master_lead == lead.id then
          return false, "不能合并到线索本身"
        end
        return true
      end },

    -- T7: declined, with feedback where someone waits for an answer.
    { name = "decline", label = "不予受理(待反馈)", from = "UNDER_TRIAGE",
      to = "FEEDBACK_PENDING", roles = { "director" },
      require = { "decline_reason", "decline_channel" },
      guard = function(lead, ctx)
        if not needs_feedback(lead) then
          return false, "匿名且无反馈渠道的线索请用“不予受理(办结)”"
        end
        return true
      end },
    { name = "decline_close", label = "不予受理(办结)", from = "UNDER_TRIAGE",
      to = "CLOSED", roles = { "director" },
      require = { "decline_reason", "decline_channel" },
      guard = function(lead, ctx)
        if needs_feedback(lead) then
          return false, "该线索须反馈：请用“不予受理(待反馈)”"
        end
        return true
      end },

    -- T8: acceptance starts the verification deadline set at assignment.
    { name = "sign", label = "签收", from = "ASSIGNED", to = "VERIFYING",
      roles = { "liaison" }, require = { "verifiers" }, due = "due_at",
      guard = function(lead, ctx)
        local v = lead.fields.verifiers
        if v == nil or #v < 2 then
          return false, "核查人不得少于2人（每行一人，第一人为组长）"
        end
        return true
      end },

    -- T9
    { name = "reassign", label = "申请改派", from = "ASSIGNED",
      to = "UNDER_TRIAGE", roles = { "liaison" }, approval = "director",
      require = { "reassign_reason" } },

    -- T10: first report (plan), progress, last report; the head signs.
    { name = "progress", label = "回告", from = "VERIFYING", to = "VERIFYING",
      roles = { "verifier" }, approval = "head",
      require = { "progress_kind", "progress_note" } },

    -- T11
    { name = "contact", label = "联系举报人", from = "VERIFYING",
      to = "VERIFYING", roles = { "verifier" }, require = { "contact_log" } },

    -- T12: one extension of at most 30 days past the assigned deadline.
    -- Guards see the fields after the change, so the rule is kept as a
    -- cap on the total: the extended date never passes due_at + 30.
    { name = "extend", label = "延期", from = "VERIFYING", to = "VERIFYING",
      roles = { "liaison" }, approval = "director",
      require = { "extension_reason", "extended_due" }, due = "extended_due",
      guard = function(lead, ctx)
        local f = lead.fields
        local old, new = day_of(f.due_at), day_of(f.extended_due)
        if old == nil or new == nil or new <= old then
          return false, "延期后的期限须晚于原核查期限"
        end
        if new > old + 30 then
          return false, "延期不得超过原核查期限后30日"
        end
        return true
      end },

    -- T13
    { name = "urge", label = "催办", from = "VERIFYING", to = "VERIFYING",
      roles = { "director" }, require = { "urge_no" } },
    { name = "supervise", label = "督办", from = "VERIFYING",
      to = "VERIFYING", roles = { "director" },
      require = { "supervise_no", "priority" } },

    -- T14: the verifiers report, the unit head signs (签字背书).
    { name = "report", label = "报送核查报告", from = { "VERIFYING", "RETURNED" },
      to = "REPORT_SUBMITTED", roles = { "verifier" }, approval = "head",
      require = { "finding", "findings_detail", "umbrella_flag", "assets",
                  "results" },
      guard = function(lead, ctx)
        local f = lead.fields
        if f.named == "实名" and (f.contact_log == nil or
                                  #f.contact_log == 0) then
          return false, "实名举报须先联系举报人并记录（联系举报人记录）"
        end
        return true
      end },

    -- T15, T16: the verifiers of the report may not approve it.
    { name = "approve", label = "审核通过(待反馈)",
      from = "REPORT_SUBMITTED", to = "FEEDBACK_PENDING",
      roles = { "director" }, require = { "review_opinion" },
      distinct_from = { "report" },
      guard = function(lead, ctx)
        if not needs_feedback(lead) then
          return false, "匿名且无反馈渠道的线索请用“审核通过(办结)”"
        end
        return true
      end },
    { name = "approve_close", label = "审核通过(办结)",
      from = "REPORT_SUBMITTED", to = "CLOSED", roles = { "director" },
      require = { "review_opinion" }, distinct_from = { "report" },
      guard = function(lead, ctx)
        if needs_feedback(lead) then
          return false, "该线索须反馈：请用“审核通过(待反馈)”"
        end
        return true
      end },

    -- T17: back for more work; RETURNED allows 10 working days.
    { name = "return", label = "退回补查", from = "REPORT_SUBMITTED",
      to = "RETURNED", roles = { "director" },
      require = { "return_reason", "return_request" },
      distinct_from = { "report" } },

    -- T18
    { name = "feedback", label = "办结反馈", from = "FEEDBACK_PENDING",
      to = "CLOSED", roles = { "liaison", "verifier", "registrar" },
      require = { "feedback_target", "feedback_method", "feedback_opinion" } },
    { name = "no_feedback", label = "无法反馈(办结)",
      from = "FEEDBACK_PENDING", to = "CLOSED",
      roles = { "liaison", "registrar" }, approval = "director",
      require = { "no_feedback_reason" } },

    -- T19: the only way out of TRANSFERRED_OUT, so no lead with an open
    -- transfer can be closed.
    { name = "receipt", label = "回执确认", from = "TRANSFERRED_OUT",
      to = "CLOSED", roles = { "registrar", "director" },
      require = { "receipt_at", "receipt_by" } },

    -- T20
    { name = "reactivate", label = "复核激活", from = "PARKED",
      to = "UNDER_TRIAGE", roles = { "triage" }, require = { "review_note" } },

    -- T21, T22: spot-checks by an inspector of another unit.
    { name = "spot_pass", label = "评查通过", from = "CLOSED", to = "CLOSED",
      roles = { "inspector" }, require = { "spot_opinion_no" },
      guard = not_own_unit },
    { name = "spot_return", label = "评查退回重查", from = "CLOSED",
      to = "RETURNED", roles = { "inspector" }, approval = "director",
      require = { "spot_opinion_no", "spot_reason", "redo_due" },
      assign = "handling_unit", due = "redo_due",
      guard = function(lead, ctx)
        local ok, why = not_own_unit(lead, ctx)
        if not ok then
          return false, why
        end
        local redo, today = day_of(lead.fields.redo_due), day_of(ctx.today)
        if redo == nil or today == nil or redo <= today then
          return false, "重查期限须晚于今天"
        end
        if redo > today + 30 then
          return false, "重查期限不得超过30日"
        end
        return true
      end },
  },
}
