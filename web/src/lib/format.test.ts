import { describe, expect, it } from 'vitest';
import { dayText, groupIndian, istDateTime, istDay, istTime, number, rupees, rupeesFromPaise, toPaise } from './format';

describe('Indian number format', () => {
	it('groups lakh and crore', () => {
		expect(groupIndian('1')).toBe('1');
		expect(groupIndian('123')).toBe('123');
		expect(groupIndian('1234')).toBe('1,234');
		expect(groupIndian('123456')).toBe('1,23,456');
		expect(groupIndian('1234567890')).toBe('1,23,45,67,890');
	});
	it('formats paise exactly as rupees', () => {
		expect(rupeesFromPaise(12345678)).toBe('₹1,23,456.78');
		expect(rupeesFromPaise(5)).toBe('₹0.05');
		expect(rupeesFromPaise(-5)).toBe('-₹0.05');
		expect(rupeesFromPaise(0)).toBe('₹0.00');
		expect(rupeesFromPaise(250, { sign: true })).toBe('+₹2.50');
		// beyond 2^53 paise: no float rounding
		expect(rupeesFromPaise(12345678901234567890n)).toBe('₹1,23,45,67,89,01,23,45,678.90');
	});
	it('reads rupee decimals from the API to the paisa', () => {
		expect(toPaise('1234.50')).toBe(123450n);
		expect(toPaise('-0.015')).toBe(-2n);
		expect(toPaise(0.1 + 0.2)).toBe(30n);
		expect(toPaise(1234.005)).toBe(123401n);
		expect(rupees(123456.78)).toBe('₹1,23,456.78');
		expect(rupees('-98765.4')).toBe('-₹98,765.40');
		expect(rupees(null)).toBe('—');
		expect(() => toPaise('12a')).toThrow(RangeError);
	});
	it('formats plain numbers', () => {
		expect(number(1234567.5)).toBe('12,34,567.50');
		expect(number(-1500, 0)).toBe('-1,500');
		expect(number(undefined)).toBe('—');
	});
});

describe('IST times', () => {
	it('shows exchange time whatever the instant is given in', () => {
		// 09:45 UTC is 15:15 IST
		expect(istDateTime('2026-03-03T09:45:07Z')).toBe('03-03-2026 15:15:07 IST');
		expect(istTime(Date.UTC(2026, 2, 3, 3, 45, 0))).toBe('09:15:00');
		expect(istDateTime(null)).toBe('—');
	});
	it('rolls the day over at IST midnight, not UTC', () => {
		expect(istDay('2026-03-03T18:29:59Z')).toBe('2026-03-03');
		expect(istDay('2026-03-03T18:30:00Z')).toBe('2026-03-04');
	});
});

describe('a picked day in words', () => {
	it('names the day, month and year in the UI language, whatever the browser zone', () => {
		expect(dayText('2026-03-04')).toBe('Wed 4 Mar 2026');
		expect(dayText('2026-03-04', 'fr')).toBe('mer. 4 mars 2026');
		expect(dayText('2025-12-31', 'en')).toBe('Wed 31 Dec 2025');
	});
	it('gives nothing for what is not a day', () => {
		expect(['', '2026-3-4', '2026-02-30', '2026-13-01', '04/03/2026'].map((d) => dayText(d))).toEqual(['', '', '', '', '']);
	});
});
